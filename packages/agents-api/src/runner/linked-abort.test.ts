import { describe, expect, it } from 'vitest';
import { linkedAbort } from './linked-abort';

describe('linked abort', () => {
  it('aborts with its own reason when aborted, leaving the followed signal alone', () => {
    const caller = new AbortController();
    const linked = linkedAbort(caller.signal);
    linked.abort('consumer left');
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('consumer left');
    expect(caller.signal.aborted).toBe(false);
  });

  it("aborts with the followed signal's reason when that signal aborts", () => {
    const caller = new AbortController();
    const linked = linkedAbort(caller.signal);
    const reason = new Error('shutting down');
    caller.abort(reason);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe(reason);
  });

  it('starts aborted when the followed signal already is', () => {
    const linked = linkedAbort(AbortSignal.abort('gone'));
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('gone');
  });

  it('follows nothing once unlinked, and without a followed signal is a plain controller', () => {
    const caller = new AbortController();
    const linked = linkedAbort(caller.signal);
    linked.unlink();
    caller.abort();
    expect(linked.signal.aborted).toBe(false);
    const alone = linkedAbort(undefined);
    alone.abort();
    expect(alone.signal.aborted).toBe(true);
  });
});
