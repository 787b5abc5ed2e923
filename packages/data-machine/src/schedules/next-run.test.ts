import { describe, expect, it } from 'vitest';
import { issuesThrown } from '../../test/support/pipeline-fixture';
import { checkSchedule, firstRunAt, maxUpcomingRuns, staggerOffset, tickAfter, upcomingRuns } from './next-run';
import { intervalPresets, scheduleSchema, type Schedule } from './schedule';
import { planTick } from './scheduler';

const hour = 60 * 60 * 1000;
const at = (iso: string) => new Date(iso);
const schedule = (input: unknown): Schedule => scheduleSchema.parse(input);
const hourly = schedule({ kind: 'interval', every: 'hourly' });

describe('interval ticks', () => {
  it('are one period apart, strictly after the given time, moved by the flow offset', () => {
    const offset = staggerOffset('flow_a', hour);
    const first = tickAfter(hourly, 'flow_a', at('2026-12-01T10:20:00Z'))!;
    expect(first.getTime() % hour).toBe(offset);
    expect(first.getTime()).toBeGreaterThan(at('2026-12-01T10:20:00Z').getTime());
    expect(tickAfter(hourly, 'flow_a', first)!.getTime() - first.getTime()).toBe(hour);
    // Exactly on a tick: the next one, never the same.
    expect(tickAfter(hourly, 'flow_a', first)).not.toEqual(first);
  });

  it('stagger flows on one preset by a stable offset within a tenth of the period', () => {
    const flows = Array.from({ length: 50 }, (_, index) => `flow_${index}`);
    for (const [preset, period] of Object.entries(intervalPresets)) {
      const offsets = flows.map((flow) => staggerOffset(flow, period));
      expect({ preset, inBound: offsets.every((offset) => offset >= 0 && offset < period / 10) }).toEqual({ preset, inBound: true });
      expect(new Set(offsets).size).toBeGreaterThan(10);
      expect(flows.map((flow) => staggerOffset(flow, period))).toEqual(offsets);
    }
  });
});

describe('cron ticks', () => {
  it('read the expression in the schedule time zone, across a daylight saving change', () => {
    const nine = schedule({ kind: 'cron', expression: '0 9 * * *', timeZone: 'Europe/Paris' });
    expect(tickAfter(nine, 'f', at('2026-12-01T00:00:00Z'))).toEqual(at('2026-12-01T08:00:00Z'));
    expect(tickAfter(nine, 'f', at('2026-07-01T00:00:00Z'))).toEqual(at('2026-07-01T07:00:00Z'));
    expect(tickAfter(nine, 'f', at('2026-12-01T08:00:00Z'))).toEqual(at('2026-12-02T08:00:00Z'));
  });

  it('refuse a bad expression, a six-field one and an unknown time zone as flow.invalid_config naming the field', () => {
    const paths = (input: unknown) => (issuesThrown('flow.invalid_config', () => checkSchedule(schedule(input))) as { path: string }[]).map((issue) => issue.path);
    expect(paths({ kind: 'cron', expression: '61 9 * * *' })).toEqual(['schedule.expression']);
    expect(paths({ kind: 'cron', expression: '0 0 9 * * *' })).toEqual(['schedule.expression']);
    expect(paths({ kind: 'cron', expression: '0 9 * * *', timeZone: 'Mars/Olympus' })).toEqual(['schedule.timeZone']);
    expect(issuesThrown('flow.invalid_config', () => checkSchedule(schedule({ kind: 'cron', expression: '*/15 * * * 1-5' })))).toBe('valid');
  });
});

describe('one-time and manual schedules', () => {
  const once = schedule({ kind: 'one_time', at: '2026-12-01T12:00:00Z' });

  it('tick at the instant while it is ahead, then never', () => {
    expect(tickAfter(once, 'f', at('2026-12-01T11:00:00Z'))).toEqual(at('2026-12-01T12:00:00Z'));
    expect(tickAfter(once, 'f', at('2026-12-01T12:00:00Z'))).toBeNull();
  });

  it('first run at the instant even when it has passed; a manual flow never', () => {
    expect(firstRunAt(once, 'f', at('2026-12-02T00:00:00Z'))).toEqual(at('2026-12-01T12:00:00Z'));
    expect(firstRunAt(schedule({ kind: 'manual' }), 'f', at('2026-12-02T00:00:00Z'))).toBeNull();
  });
});

describe('upcoming runs (the preview of a schedule)', () => {
  it('lists cron ticks in the time zone, the first after now, each after the last', () => {
    const weekdays = schedule({ kind: 'cron', expression: '30 8 * * 1-5', timeZone: 'America/New_York' });
    // Friday 4 December 2026, then Monday 7 and Tuesday 8: no weekend run.
    expect(upcomingRuns(weekdays, 'f', at('2026-12-04T12:00:00Z'), 3)).toEqual([at('2026-12-04T13:30:00Z'), at('2026-12-07T13:30:00Z'), at('2026-12-08T13:30:00Z')]);
  });

  it('lists interval ticks a period apart with the flow stagger, and at most the cap', () => {
    const runs = upcomingRuns(hourly, 'flow_a', at('2026-12-01T10:20:00Z'), 1000);
    expect(runs).toHaveLength(maxUpcomingRuns);
    expect(runs[0]).toEqual(tickAfter(hourly, 'flow_a', at('2026-12-01T10:20:00Z')));
    expect(runs[1]!.getTime() - runs[0]!.getTime()).toBe(hour);
  });

  it('lists a one-time instant once, even when passed, and nothing for a manual flow', () => {
    const once = schedule({ kind: 'one_time', at: '2026-12-01T12:00:00Z' });
    expect(upcomingRuns(once, 'f', at('2026-12-02T00:00:00Z'), 5)).toEqual([at('2026-12-01T12:00:00Z')]);
    expect(upcomingRuns(schedule({ kind: 'manual' }), 'f', at('2026-12-02T00:00:00Z'), 5)).toEqual([]);
  });

  it('refuses an unreadable expression as when it is saved, naming the field', () => {
    const issues = issuesThrown('flow.invalid_config', () => upcomingRuns(schedule({ kind: 'cron', expression: '61 * * * *' }), 'f', at('2026-12-01T00:00:00Z'), 3));
    expect(issues).toEqual([expect.objectContaining({ path: 'schedule.expression' })]);
  });
});

describe('planning a due tick', () => {
  const tick = tickAfter(hourly, 'flow_p', at('2026-12-01T10:00:00Z'))!;

  it('runs a tick on time and moves to the next', () => {
    expect(planTick({ flowId: 'flow_p', schedule: hourly, tick }, new Date(tick.getTime() + 1000))).toEqual({ run: true, next: new Date(tick.getTime() + hour) });
  });

  it('runs one catch-up run for many missed ticks, then moves past now without replaying them', () => {
    const now = new Date(tick.getTime() + 5 * hour + 1000);
    expect(planTick({ flowId: 'flow_p', schedule: hourly, tick }, now)).toEqual({ run: true, next: new Date(tick.getTime() + 6 * hour) });
  });

  it('runs none for missed ticks with catch-up none', () => {
    const none = schedule({ kind: 'interval', every: 'hourly', catchUp: 'none' });
    const now = new Date(tick.getTime() + 2 * hour + 1000);
    expect(planTick({ flowId: 'flow_p', schedule: none, tick }, now)).toEqual({ run: false, next: new Date(tick.getTime() + 3 * hour) });
  });

  it('runs a one-time schedule once and clears it', () => {
    expect(planTick({ flowId: 'f', schedule: schedule({ kind: 'one_time', at: '2026-12-01T12:00:00Z' }), tick: at('2026-12-01T12:00:00Z') }, at('2026-12-03T00:00:00Z'))).toEqual({
      run: true,
      next: null,
    });
  });
});
