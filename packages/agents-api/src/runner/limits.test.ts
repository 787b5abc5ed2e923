import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing/contract-support';
import { defaultLimits, maxTimeoutMs, resolveLimits } from './limits';

describe('run limits', () => {
  it('gives every run a wall clock of 5 minutes when none is set', () => {
    expect(defaultLimits.timeoutMs).toBe(300_000);
    expect(resolveLimits().timeoutMs).toBe(300_000);
    expect(resolveLimits({ maxTurns: 3 }).timeoutMs).toBe(300_000);
  });

  it('keeps a wall clock up to the longest a timer can hold', () => {
    expect(resolveLimits({ timeoutMs: maxTimeoutMs }).timeoutMs).toBe(2_147_483_647);
  });

  it.each([1e12, maxTimeoutMs + 1])('refuses timeoutMs %d, which no timer can hold, with runner.invalid_request', async (timeoutMs) => {
    expect(await codeOf(Promise.resolve().then(() => resolveLimits({ timeoutMs })))).toBe('runner.invalid_request');
  });
});
