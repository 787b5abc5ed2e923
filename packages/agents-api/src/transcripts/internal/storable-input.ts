import { AgentsApiError } from '../../errors';
import { findJsonProblem } from '../../messages/json-problem';

/**
 * Refuses, with `transcript.invalid_request`, what no store can keep exactly:
 * U+0000 in any string (Postgres `text` and `jsonb` cannot hold it), a
 * BigInt, a cycle, a function, a non-finite number, a non-plain object.
 * Every store calls it on what it is about to write, so the in-memory store
 * refuses what the Postgres store would fail on, with the same code.
 * Returns `value` for chaining.
 */
export function checkStorable<Value>(value: Value, what: string): Value {
  const problem = findJsonProblem(value, what);
  if (problem !== undefined) {
    throw new AgentsApiError('transcript.invalid_request', `Cannot store ${problem}.`, { details: { problem } });
  }
  return value;
}
