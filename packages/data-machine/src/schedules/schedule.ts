import { z } from 'zod';

/**
 * The interval presets a flow may run on. Each names a fixed period; the
 * scheduler staggers flows on the same preset by a stable per-flow offset.
 */
export const intervalPresets = {
  every_5_minutes: 5 * 60_000,
  hourly: 60 * 60_000,
  every_2_hours: 2 * 60 * 60_000,
  every_4_hours: 4 * 60 * 60_000,
  every_6_hours: 6 * 60 * 60_000,
  every_12_hours: 12 * 60 * 60_000,
  daily: 24 * 60 * 60_000,
  weekly: 7 * 24 * 60 * 60_000,
} as const;

/** The name of an interval preset. */
export type IntervalPreset = keyof typeof intervalPresets;

/** What a flow does about ticks it missed while paused or while no scheduler ran: nothing, or one run. */
export const catchUpSchema = z.enum(['none', 'once']);

/**
 * When a flow runs, as stored on the flow (JSON) and accepted at the edges.
 * `manual` never runs by itself; `interval` runs on a preset period;
 * `cron` runs on a five-field cron expression read in an IANA time zone;
 * `one_time` runs once at an instant.
 */
export const scheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('manual') }),
  z.strictObject({
    kind: z.literal('interval'),
    every: z.enum(Object.keys(intervalPresets) as [IntervalPreset, ...IntervalPreset[]]),
    catchUp: catchUpSchema.default('once'),
  }),
  z.strictObject({
    kind: z.literal('cron'),
    expression: z.string().trim().min(9).max(120),
    timeZone: z.string().min(1).max(64).default('UTC'),
    catchUp: catchUpSchema.default('once'),
  }),
  z.strictObject({ kind: z.literal('one_time'), at: z.iso.datetime({ offset: true }) }),
]);

/** When a flow runs (see {@link scheduleSchema}). */
export type Schedule = z.infer<typeof scheduleSchema>;

/** A flow that only runs when someone starts it. */
export const manualSchedule: Schedule = { kind: 'manual' };
