import { describe, expect, it } from 'vitest';
import { scheduleSchema } from './schedule';

describe('scheduleSchema', () => {
  it('accepts each kind and fills the catch-up default', () => {
    expect(scheduleSchema.parse({ kind: 'manual' })).toEqual({ kind: 'manual' });
    expect(scheduleSchema.parse({ kind: 'interval', every: 'hourly' })).toEqual({ kind: 'interval', every: 'hourly', catchUp: 'once' });
    expect(scheduleSchema.parse({ kind: 'cron', expression: '0 9 * * 1-5' })).toEqual({
      kind: 'cron',
      expression: '0 9 * * 1-5',
      timeZone: 'UTC',
      catchUp: 'once',
    });
    expect(scheduleSchema.parse({ kind: 'one_time', at: '2026-12-01T09:00:00Z' }).kind).toBe('one_time');
  });

  it('refuses an unknown preset, an unknown kind, extra fields and a time without a zone offset', () => {
    expect(scheduleSchema.safeParse({ kind: 'interval', every: 'every_minute' }).success).toBe(false);
    expect(scheduleSchema.safeParse({ kind: 'sometimes' }).success).toBe(false);
    expect(scheduleSchema.safeParse({ kind: 'manual', every: 'hourly' }).success).toBe(false);
    expect(scheduleSchema.safeParse({ kind: 'one_time', at: 'tomorrow' }).success).toBe(false);
  });
});
