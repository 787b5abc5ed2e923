import { AgentsApiError, type AgentsApiErrorCode } from '../errors';

// What the store contract suites share; not part of the public API.

/** A clock only the test moves, so timestamps and lock expiry never depend on real time. */
export interface TestClock {
  readonly now: () => Date;
  advance(milliseconds: number): void;
}

export function createTestClock(): TestClock {
  let current = Date.parse('2030-01-02T03:04:05.678Z');
  return {
    now: () => new Date(current),
    advance: (milliseconds) => {
      current += milliseconds;
    },
  };
}

/** The error code a promise rejects with; anything else is named so a failed expectation says what happened. */
export async function codeOf(promise: Promise<unknown>): Promise<AgentsApiErrorCode | 'resolved' | 'not an AgentsApiError'> {
  const error = await promise.then(
    () => 'resolved' as const,
    (caught: unknown) => caught,
  );
  if (error === 'resolved') return error;
  return AgentsApiError.isInstance(error) ? error.code : 'not an AgentsApiError';
}
