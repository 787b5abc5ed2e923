import { createHash } from 'node:crypto';
import cronParser from 'cron-parser';
import { DataMachineError } from '../errors';
import { intervalPresets, type Schedule } from './schedule';

/** The share of an interval preset's period a flow's start may be staggered by (a tenth: hourly flows start within six minutes). */
export const staggerFraction = 0.1;

/**
 * The stable offset, in whole seconds, a flow's interval ticks are moved by:
 * a hash of the flow id within `staggerFraction` of `periodMs`. The same flow
 * always gets the same offset, so its ticks stay a period apart.
 */
export function staggerOffset(flowId: string, periodMs: number): number {
  const boundSeconds = Math.floor((periodMs * staggerFraction) / 1000);
  if (boundSeconds < 1) return 0;
  const hash = createHash('sha256').update(flowId).digest();
  return (hash.readUIntBE(0, 6) % boundSeconds) * 1000;
}

/**
 * The first tick of `schedule` strictly after `after`, or null when it has
 * none (`manual`, a `one_time` whose instant is not after `after`). Interval
 * ticks are the multiples of the preset's period since the Unix epoch, moved
 * by the flow's {@link staggerOffset}; cron ticks are read in the schedule's
 * time zone. A cron expression or time zone that cannot be read is
 * `flow.invalid_config` naming the field (`schedule.expression`).
 */
export function tickAfter(schedule: Schedule, flowId: string, after: Date): Date | null {
  switch (schedule.kind) {
    case 'manual':
      return null;
    case 'one_time': {
      const at = new Date(schedule.at);
      return at.getTime() > after.getTime() ? at : null;
    }
    case 'interval': {
      const period = intervalPresets[schedule.every];
      const offset = staggerOffset(flowId, period);
      const periods = Math.floor((after.getTime() - offset) / period) + 1;
      return new Date(periods * period + offset);
    }
    case 'cron':
      return cronTickAfter(schedule.expression, schedule.timeZone, after);
  }
}

/**
 * When a flow whose schedule was just set (created, changed) first runs: a
 * `one_time` schedule at its instant even if that has passed (it runs once,
 * at the next scheduler tick), any other at its next tick. Null for `manual`.
 */
export function firstRunAt(schedule: Schedule, flowId: string, now: Date): Date | null {
  if (schedule.kind === 'one_time') return new Date(schedule.at);
  return tickAfter(schedule, flowId, now);
}

/** Throws `flow.invalid_config` (naming `schedule.expression` or `schedule.timeZone`) unless the ticks of `schedule` can be computed. */
export function checkSchedule(schedule: Schedule): void {
  if (schedule.kind === 'cron') cronTickAfter(schedule.expression, schedule.timeZone, new Date(0));
}

function cronTickAfter(expression: string, timeZone: string, after: Date): Date {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) invalidSchedule('expression', 'a cron expression has five fields: minute hour day month weekday');
  if (!isTimeZone(timeZone)) invalidSchedule('timeZone', `"${timeZone}" is not an IANA time zone`);
  try {
    return cronParser.parseExpression(expression, { currentDate: after, tz: timeZone }).next().toDate();
  } catch (error) {
    return invalidSchedule('expression', error instanceof Error ? error.message : String(error));
  }
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function invalidSchedule(field: 'expression' | 'timeZone', message: string): never {
  const path = `schedule.${field}`;
  // The shape of every other flow.invalid_config: the issues by field path.
  throw new DataMachineError('flow.invalid_config', `Invalid schedule: ${path}: ${message}`, { details: { issues: [{ path, message }] } });
}

/** The most run times {@link upcomingRuns} lists. */
export const maxUpcomingRuns = 20;

/**
 * The next `count` (1 to {@link maxUpcomingRuns}) run times of `schedule`
 * for a flow whose schedule is set at `now`: the first as {@link firstRunAt}
 * gives it, each next one the tick after the last. Empty for `manual`; one
 * instant for `one_time`. `flowId` only moves interval ticks (their stagger);
 * a flow not yet created previews with any stable id. A cron expression or
 * time zone that cannot be read is `flow.invalid_config`, as when it is saved.
 */
export function upcomingRuns(schedule: Schedule, flowId: string, now: Date, count: number): Date[] {
  checkSchedule(schedule);
  const limit = Math.min(Math.max(Math.floor(count), 0), maxUpcomingRuns);
  const runs: Date[] = [];
  let next = firstRunAt(schedule, flowId, now);
  while (next !== null && runs.length < limit) {
    runs.push(next);
    next = tickAfter(schedule, flowId, next);
  }
  return runs;
}
