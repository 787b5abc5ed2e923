import { AgentsApiError, type AgentsApiErrorCode } from '../errors';

/**
 * The same store, with every method's failure typed: an `AgentsApiError`
 * passes through as it is; anything else (a driver error such as a lost
 * connection or a missing table, a bug) becomes `code`, with the operation
 * in `details.operation` and the original error as `cause`. Stores wrap
 * themselves with it, so a caller that uses a store directly sees the same
 * typed errors as one that goes through a runner.
 */
export function wrapStoreErrors<Store extends object>(store: Store, code: AgentsApiErrorCode, storeName: string): Store {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(store)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const method = value as (...args: unknown[]) => unknown;
    wrapped[key] = async (...args: unknown[]): Promise<unknown> => {
      try {
        return await method.apply(store, args);
      } catch (error) {
        if (AgentsApiError.isInstance(error)) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new AgentsApiError(code, `The ${storeName} failed in ${key}: ${reason}`, { details: { operation: key }, cause: error });
      }
    };
  }
  return wrapped as Store;
}
