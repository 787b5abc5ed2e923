import { createHandlerRegistry, createRecordsHandler, jsonItemsHandler, type DataMachineContext, type HandlerRegistry } from 'data-machine';

/**
 * The handlers this server offers pipelines: the product's built-in ones
 * (`json_items` to fetch, `records` to publish into the tenant's records).
 * One registry per process, shared by the HTTP API and the CLI.
 */
export function createDefaultHandlers(context: DataMachineContext): HandlerRegistry {
  return createHandlerRegistry([jsonItemsHandler, createRecordsHandler(context)]);
}
