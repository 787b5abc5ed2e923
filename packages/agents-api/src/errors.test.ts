import { describe, expect, it } from 'vitest';
import { AgentsApiError, agentsApiErrorCodes, isRetryableCode, type AgentsApiErrorCode } from './errors';

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

  describe('retryable', () => {
    const retryable: readonly AgentsApiErrorCode[] = [
      'provider.timeout',
      'provider.unavailable',
      'provider.rate_limited',
      'transcript.store_failed',
      'memory.store_failed',
      'transcript.lease_lost',
      'transcript.session_locked',
      'runner.persist_failed',
    ];

    it.each(retryable)('%s may pass when tried again', (code) => {
      expect(new AgentsApiError(code, 'x').retryable).toBe(true);
      expect(isRetryableCode(code)).toBe(true);
    });

    it.each([
      'provider.bad_request',
      'provider.auth_failed',
      'provider.bad_response',
      'provider.cancelled',
      'message.invalid',
      'runner.invalid_request',
      'agent.invalid_definition',
      'memory.invalid_content',
      'transcript.invalid_request',
    ] as const)('%s fails the same way when tried again', (code) => {
      expect(new AgentsApiError(code, 'x').retryable).toBe(false);
    });

    it('is false for every code outside the retryable table', () => {
      const others = agentsApiErrorCodes.filter((code) => !retryable.includes(code));
      expect(others.filter((code) => isRetryableCode(code))).toEqual([]);
    });
  });
});
