import { describe, expect, it } from 'vitest';
import { AgentsApiError } from './errors';

describe('AgentsApiError', () => {
  it('carries a stable code, details and cause', () => {
    const cause = new Error('underlying');
    const error = new AgentsApiError('database.migration_failed', 'it failed', { details: { set: 'x' }, cause });
    expect(error).toMatchObject({ name: 'AgentsApiError', code: 'database.migration_failed', message: 'it failed', details: { set: 'x' } });
    expect(error.cause).toBe(cause);
  });

  it('is recognised across copies of the package by isInstance, not by class identity', () => {
    const foreign = Object.assign(new Error('from another copy'), { [Symbol.for('@data-machine/agents-api/error')]: true });
    expect(AgentsApiError.isInstance(new AgentsApiError('database.migration_failed', 'x'))).toBe(true);
    expect(AgentsApiError.isInstance(foreign)).toBe(true);
    expect(AgentsApiError.isInstance(new Error('plain'))).toBe(false);
    expect(AgentsApiError.isInstance(null)).toBe(false);
  });
});
