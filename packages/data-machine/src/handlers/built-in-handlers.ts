import type { DataMachineContext } from '../context';
import { createFeedHandler } from './feed/feed-handler';
import { createFilesHandler } from './files/files-handler';
import type { Handler } from './handler';
import { createHandlerRegistry, type HandlerRegistry } from './handler-registry';
import { httpJsonHandler } from './http-json/http-json-handler';
import { inboundWebhookHandler } from './inbound-webhook-handler';
import { jsonItemsHandler } from './json-items-handler';
import { createRecordsHandler } from './records-handler';
import { createHandlerStateStore } from './state/handler-state-store';
import { createItemProgress } from './state/item-progress';
import { createWebhookHandler } from './webhook/webhook-handler';
import { createWordPressHandler } from './wordpress/wordpress-handler';

/**
 * Every handler the product ships, wired to `context`: fetch `json_items`,
 * `rss`, `http_json`, `inbound_webhook`, `files`; publish `records`, `webhook`, `wordpress`.
 */
export function createBuiltInHandlers(context: DataMachineContext): Handler[] {
  return [
    jsonItemsHandler,
    createFeedHandler({ state: createHandlerStateStore(context), items: createItemProgress(context) }),
    httpJsonHandler,
    inboundWebhookHandler,
    createFilesHandler(context),
    createRecordsHandler(context),
    createWebhookHandler({ now: context.now }),
    createWordPressHandler(context),
  ];
}

/**
 * The registry a host starts from: the built-in handlers, open for more.
 *
 * @example
 * const handlers = createDefaultHandlerRegistry(context);
 * handlers.register(myHandler);
 */
export function createDefaultHandlerRegistry(context: DataMachineContext): HandlerRegistry {
  return createHandlerRegistry(createBuiltInHandlers(context));
}
