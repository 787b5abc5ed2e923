import { startModelServer, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPrincipal } from '../../test/support/principals';
import { createMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { codeOf } from '../testing/contract-support';
import { defaultLimits, maxTimeoutMs, resolveLimits, startWallClock } from './limits';
import { linkedAbort } from './linked-abort';
import { createToolLoopRunner } from './tool-loop-runner';

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

  describe('in a run', () => {
    let server: ModelServer;
    beforeAll(async () => {
      server = await startModelServer();
    });
    afterAll(async () => {
      await server.close();
    });

    it('refuses timeoutMs 1e12 with runner.invalid_request before calling the model, not with a RangeError', async () => {
      const runner = createToolLoopRunner({
        provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 }),
      });
      const request = {
        messages: [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })],
        principal: testPrincipal(),
        limits: { timeoutMs: 1e12 },
      };
      expect(await codeOf(runner.run(request))).toBe('runner.invalid_request');
      expect(server.completionRequests()).toEqual([]);
    });
  });
});

describe('wall clock', () => {
  it('aborts with a TimeoutError and says it expired when it runs out', async () => {
    const clock = startWallClock(5);
    await new Promise((resolve) => clock.signal.addEventListener('abort', resolve, { once: true }));
    expect(clock.expired).toBe(true);
    expect((clock.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it("aborts with the followed signal's reason, not expired, when that signal aborts first, and stops following once stopped", () => {
    const caller = new AbortController();
    const clock = startWallClock(60_000, caller.signal);
    caller.abort('left');
    expect(clock.signal.aborted).toBe(true);
    expect(clock.signal.reason).toBe('left');
    expect(clock.expired).toBe(false);
    clock.stop();
    const other = new AbortController();
    const stopped = startWallClock(60_000, other.signal);
    stopped.stop();
    other.abort();
    expect(stopped.signal.aborted).toBe(false);
  });

  it("arms its timer on a run's own controller when given one, and leaves unlinking it to the run", async () => {
    const caller = new AbortController();
    const own = linkedAbort(caller.signal);
    const clock = startWallClock(5, caller.signal, own);
    expect(clock.signal).toBe(own.signal);
    await new Promise((resolve) => clock.signal.addEventListener('abort', resolve, { once: true }));
    expect(clock.expired).toBe(true);
    expect((own.signal.reason as DOMException).name).toBe('TimeoutError');
    const next = linkedAbort(caller.signal);
    startWallClock(60_000, caller.signal, next).stop();
    caller.abort('left');
    expect(next.signal.reason).toBe('left');
  });
});
