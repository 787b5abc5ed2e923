import { afterEach, describe, expect, it, vi } from 'vitest';
import { now, WallClockTimers, type Expiring } from './wall-clock-timers';

/** A run due `durationMs` from now, which counts its expiries. */
function runOf(durationMs: number): Expiring & { expiries: number } {
  return {
    deadline: now() + durationMs,
    expiries: 0,
    expire() {
      this.expiries += 1;
    },
  };
}

/** The timers that would keep the process alive (unref'd ones are not listed). */
function refedTimeouts(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

describe('wall-clock timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires a run once its duration has passed', async () => {
    const timers = new WallClockTimers();
    const run = runOf(5);
    timers.add(5, run);
    await vi.waitFor(() => expect(run.expiries).toBe(1), { timeout: 1000 });
  });

  it('keeps one timer per duration, however many runs wait on it', () => {
    vi.useFakeTimers();
    const timers = new WallClockTimers();
    const runs = [runOf(1000), runOf(1000), runOf(1000), runOf(2000)];
    for (const run of runs) timers.add(run === runs[3] ? 2000 : 1000, run);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(runs.map((run) => run.expiries)).toEqual([1, 1, 1, 0]);
    vi.advanceTimersByTime(1000);
    expect(runs.map((run) => run.expiries)).toEqual([1, 1, 1, 1]);
  });

  it('never expires a run that was removed, and re-arms for the runs still waiting', () => {
    vi.useFakeTimers();
    const timers = new WallClockTimers();
    const first = runOf(1000);
    timers.add(1000, first);
    vi.advanceTimersByTime(400);
    const second = runOf(1000);
    timers.add(1000, second);
    timers.remove(1000, first);
    vi.advanceTimersByTime(600);
    expect([first.expiries, second.expiries]).toEqual([0, 0]);
    vi.advanceTimersByTime(399);
    expect(second.expiries).toBe(0);
    vi.advanceTimersByTime(1);
    expect([first.expiries, second.expiries]).toEqual([0, 1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms no timer for a run that starts while an earlier one of its duration is armed', () => {
    vi.useFakeTimers();
    const timers = new WallClockTimers();
    timers.add(1000, runOf(1000));
    timers.remove(1000, runOf(1000));
    for (let index = 0; index < 5; index += 1) {
      const run = runOf(1000);
      timers.add(1000, run);
      timers.remove(1000, run);
    }
    expect(vi.getTimerCount()).toBe(1);
  });

  it('keeps no timer that holds the process alive', () => {
    const timers = new WallClockTimers();
    const before = refedTimeouts();
    const run = runOf(60_000);
    timers.add(60_000, run);
    expect(refedTimeouts()).toBe(before);
    timers.remove(60_000, run);
  });

  it('expires a run started under fake timers when fake time passes, though a real timer of its duration is armed', () => {
    const timers = new WallClockTimers();
    const real = runOf(60_000);
    timers.add(60_000, real);
    vi.useFakeTimers();
    const faked = runOf(60_000);
    timers.add(60_000, faked);
    vi.advanceTimersByTime(60_000);
    expect([real.expiries, faked.expiries]).toEqual([0, 1]);
    timers.remove(60_000, real);
  });

  it('expires the run its timer was armed for when only setTimeout is faked and the clock stands still', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timers = new WallClockTimers();
    const run = runOf(60_000);
    timers.add(60_000, run);
    vi.advanceTimersByTime(60_000);
    expect(run.expiries).toBe(1);
  });
});
