import { z } from 'zod';
import type { EffectsRecorder } from '../steps/step';

/**
 * A side effect a publish handler made on a remote system, reported as it
 * happens: a created object, an update (with the previous values), an
 * uploaded file, a delivery. `ref` names the remote object within the step
 * (`post:12`); recording the same `ref` again keeps the first record's
 * `undo` (the state before this job touched it) and takes the latest `after`.
 */
export interface HandlerEffect {
  /** What happened, `<handler>_<event>` in snake case: `wordpress_post_created`, `webhook_delivered`. */
  readonly kind: string;
  readonly ref: string;
  /** Whether the handler can reverse it (`PublishHandler.revert`); a delivered webhook cannot be. */
  readonly reversible: boolean;
  /** What reversing needs: the remote id, the previous field values. */
  readonly undo: Readonly<Record<string, unknown>>;
  /** The remote state right after the write (a modified time, a content hash), so a revert can tell a later change by someone else. */
  readonly after?: Readonly<Record<string, unknown>>;
}

/** Where a handler reports its effects (`HandlerContext.effects`); the job keeps them for undo. */
export interface HandlerEffectsRecorder {
  record(effect: HandlerEffect): Promise<void>;
}

/** An effect as the job recorded it, handed back to the handler's `revert`. */
export interface RecordedHandlerEffect extends HandlerEffect {
  readonly jobId: string;
  readonly stepKey: string;
  readonly handler: string;
}

/**
 * What reversing one effect came to: `reverted`; `skipped` with a reason
 * (changed by someone else since, already gone, not reversible); or `failed`
 * with the error (the remote refused or was unreachable). Expected outcomes,
 * not exceptions.
 */
export type RevertOutcome =
  | { readonly status: 'reverted' }
  | { readonly status: 'skipped'; readonly reason: RevertSkipReason; readonly message?: string }
  | { readonly status: 'failed'; readonly error: { readonly code: string; readonly message: string } };

/** Why an effect was not reversed. */
export const revertSkipReasons = ['changed_remotely', 'already_gone', 'already_reverted', 'in_use', 'not_reversible', 'state_unknown'] as const;
export type RevertSkipReason = (typeof revertSkipReasons)[number];

/** The `dm_job_effects` key of a handler effect: `effect:<step>:<ref>` (publish markers and step markers use other prefixes). */
export function handlerEffectKey(stepKey: string, ref: string): string {
  return `${handlerEffectPrefix}${stepKey}:${ref}`;
}
/** The key prefix of every handler effect. */
export const handlerEffectPrefix = 'effect:';

/** A handler effect's `detail` column (JSON, read back through this schema). */
export const handlerEffectDetailSchema = z.object({
  handler: z.string(),
  step: z.string(),
  ref: z.string(),
  reversible: z.boolean(),
  undo: z.record(z.string(), z.unknown()),
  after: z.record(z.string(), z.unknown()).optional(),
});
export type HandlerEffectDetail = z.infer<typeof handlerEffectDetailSchema>;

/**
 * The handler effects recorder of one step over the job's effects recorder.
 * The first record of a `ref` wins; a later one replaces only its `after`
 * (through `EffectsRecorder.merge`, when the recorder has it).
 */
export function handlerEffectsFor(effects: EffectsRecorder, stepKey: string, handler: string): HandlerEffectsRecorder {
  return {
    async record(effect) {
      const key = handlerEffectKey(stepKey, effect.ref);
      const detail: HandlerEffectDetail = { handler, step: stepKey, ref: effect.ref, reversible: effect.reversible, undo: effect.undo, ...(effect.after === undefined ? {} : { after: effect.after }) };
      const recorded = await effects.find(key);
      if (recorded === undefined) await effects.record({ key, kind: effect.kind, detail });
      else if (effect.after !== undefined && effects.merge !== undefined) await effects.merge(key, { after: effect.after });
    },
  };
}
