import { DataMachineError } from '../errors';
import type { FetchHandler, Handler, HandlerKind, PublishHandler } from './handler';

/** The handlers a host offers, by slug. Pipelines and flows are validated against it on write. */
export interface HandlerRegistry {
  /** Adds a handler; a second with the same slug is `handler.duplicate`. */
  register<Config>(handler: FetchHandler<Config> | PublishHandler<Config>): void;
  /** The handler with `slug`; `handler.not_found` when there is none. */
  get(slug: string): Handler;
  /** The handler with `slug`, or undefined. */
  find(slug: string): Handler | undefined;
  /** Every handler, by slug; only those of `kind` when given. */
  list(kind?: HandlerKind): readonly Handler[];
}

/**
 * A registry holding `handlers`, open for more. Created by the host and passed
 * to the operations that need it; there is no module-level default.
 *
 * @example
 * const handlers = createHandlerRegistry([jsonItemsHandler, createRecordsHandler(context)]);
 */
export function createHandlerRegistry(handlers: readonly Handler[] = []): HandlerRegistry {
  const bySlug = new Map<string, Handler>();
  const registry: HandlerRegistry = {
    register(handler) {
      if (bySlug.has(handler.slug)) {
        throw new DataMachineError('handler.duplicate', `A handler "${handler.slug}" is already registered.`, { details: { handler: handler.slug } });
      }
      // Config appears in method parameters only, which TypeScript checks bivariantly: a handler of any config is a Handler.
      bySlug.set(handler.slug, handler as Handler);
    },
    get(slug) {
      const handler = bySlug.get(slug);
      if (!handler) throw new DataMachineError('handler.not_found', `There is no handler "${slug}".`, { details: { handler: slug } });
      return handler;
    },
    find: (slug) => bySlug.get(slug),
    list: (kind) => [...bySlug.values()].filter((handler) => kind === undefined || handler.kind === kind).sort((a, b) => a.slug.localeCompare(b.slug)),
  };
  for (const handler of handlers) registry.register(handler);
  return registry;
}
