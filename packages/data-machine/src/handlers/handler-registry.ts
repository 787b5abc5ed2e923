import { DataMachineError } from '../errors';
import { handlerSlugSchema } from './handler-slug';
import { handlerKinds, type FetchHandler, type Handler, type HandlerKind, type PublishHandler } from './handler';

/** The handlers a host offers, by slug. Pipelines and flows are validated against it on write. */
export interface HandlerRegistry {
  /** Adds a handler; a second with the same slug is `handler.duplicate`, a malformed slug or kind `handler.invalid_definition`. */
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
      checkDefinition(handler);
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

/** A handler pipelines can name: a slug they can spell, a kind a step type maps to. */
function checkDefinition(handler: Handler): void {
  const problem = !handlerSlugSchema.safeParse(handler.slug).success
    ? 'its slug is not 1 to 64 lowercase letters, digits or inner "_" or "-"'
    : handlerKinds.includes(handler.kind)
      ? undefined
      : `its kind is not one of ${handlerKinds.join(', ')}`;
  if (problem !== undefined) {
    throw new DataMachineError('handler.invalid_definition', `The handler "${String(handler.slug)}" cannot be registered: ${problem}.`, { details: { handler: handler.slug } });
  }
}
