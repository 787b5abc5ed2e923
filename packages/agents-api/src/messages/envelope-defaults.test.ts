import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoNow, newMessageId } from './envelope-defaults';

describe('envelope defaults', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the current instant exactly as Date#toISOString does, across second, day and year boundaries', () => {
    vi.useFakeTimers();
    const instants = [
      Date.UTC(2026, 10, 23, 10, 0, 0, 0),
      Date.UTC(2026, 10, 23, 10, 0, 0, 7),
      Date.UTC(2026, 10, 23, 10, 0, 0, 42),
      Date.UTC(2026, 10, 23, 10, 0, 0, 999),
      Date.UTC(2026, 10, 23, 10, 0, 1, 0),
      Date.UTC(2026, 10, 23, 23, 59, 59, 999),
      Date.UTC(2026, 10, 24, 0, 0, 0, 0),
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      Date.UTC(2027, 0, 1, 0, 0, 0, 1),
      Date.UTC(2028, 1, 29, 12, 30, 15, 500),
      // Years toISOString writes with six digits and a sign.
      Date.UTC(10_000, 0, 1, 0, 0, 0, 5),
      Date.UTC(-1, 11, 31, 23, 59, 59, 998),
      Date.UTC(1969, 11, 31, 23, 59, 59, 999),
    ];
    for (const instant of instants) {
      vi.setSystemTime(instant);
      expect(isoNow()).toBe(new Date(instant).toISOString());
    }
  });

  it('goes back as well as forward: the cached second is never reused for another second', () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2026, 10, 23, 10, 0, 5, 1));
    expect(isoNow()).toBe('2026-11-23T10:00:05.001Z');
    vi.setSystemTime(Date.UTC(2026, 10, 23, 10, 0, 4, 1));
    expect(isoNow()).toBe('2026-11-23T10:00:04.001Z');
  });

  it('is the real clock when nothing fakes it', () => {
    const before = Date.now();
    const written = isoNow();
    const after = Date.now();
    expect(Date.parse(written)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(written)).toBeLessThanOrEqual(after);
  });

  it('makes message ids of 128 random bits that never repeat, across many refills of the random pool', () => {
    const ids = Array.from({ length: 10_000 }, () => newMessageId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it('shares no prefix between ids, so an id tells nothing of the process or of how many it made', () => {
    const ids = Array.from({ length: 1000 }, () => newMessageId());
    // 1000 random ids share their first 8 hex digits only by astronomically rare chance.
    expect(new Set(ids.map((id) => id.slice(0, 12))).size).toBe(ids.length);
  });
});
