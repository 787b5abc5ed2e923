import { AgentsApiError } from '../../src/errors';

/** The AgentsApiError `action` throws; fails the test if it throws nothing or something else. */
export function thrownBy(action: () => unknown): AgentsApiError {
  try {
    action();
  } catch (error) {
    if (AgentsApiError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an AgentsApiError, but nothing was thrown');
}

/** The AgentsApiError `promise` rejects with; fails the test if it resolves or rejects with something else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<AgentsApiError> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error('expected an AgentsApiError, but the promise resolved');
  if (AgentsApiError.isInstance(outcome.error)) return outcome.error;
  throw new Error(`expected an AgentsApiError, got ${String(outcome.error)}`);
}
