import { createDefaultHandlerRegistry, type DataMachineContext, type HandlerRegistry } from 'data-machine';

/**
 * The handlers this server offers pipelines: every handler the product
 * ships (fetch `json_items`, `rss`, `http_json`, `inbound_webhook`, `files`;
 * publish `records`, `webhook`, `wordpress`). One registry per process, shared by the HTTP
 * API, the CLI and the job worker.
 */
export function createDefaultHandlers(context: DataMachineContext): HandlerRegistry {
  return createDefaultHandlerRegistry(context);
}
