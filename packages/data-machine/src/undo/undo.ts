import type { Selectable } from 'kysely';
import type { UndoOutcome, UndoResultTable, UndoStatus, UndoTable } from '../database/data-machine-database';

export type { UndoOutcome, UndoStatus } from '../database/data-machine-database';

/** Every status of an undo, in order of life. */
export const undoStatuses = ['pending', 'processing', 'completed', 'failed'] as const satisfies readonly UndoStatus[];
/** Every outcome of one effect in an undo. */
export const undoOutcomes = ['reverted', 'skipped', 'failed'] as const satisfies readonly UndoOutcome[];

/**
 * An undo of a job's effects (and its fan-out children's), itself run as a
 * pg-boss job: `pending` until a worker takes it, `processing`, then
 * `completed` (every effect reverted or skipped) or `failed` (some effect
 * failed: `status_reason` `effects_failed:<n>`; or the undo itself could not run).
 */
export interface Undo {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  /** The job undone. */
  readonly jobId: string;
  readonly status: UndoStatus;
  readonly statusReason: string | null;
  readonly attempts: number;
  readonly counts: { readonly reverted: number; readonly skipped: number; readonly failed: number };
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly requestedBy: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** What became of one effect: `reverted`, `skipped` with a reason, or `failed` with the error. */
export interface UndoEffectResult {
  /** The job that recorded the effect: the undone job or one of its children. */
  readonly jobId: string;
  readonly effectKey: string;
  /** Its place in the undo: 1 is the newest effect, reversed first. */
  readonly position: number;
  readonly handler: string | null;
  readonly kind: string;
  readonly outcome: UndoOutcome;
  readonly reason: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly at: Date;
}

/** An undo with its per-effect report, in the order the effects were reversed. */
export interface UndoReport {
  readonly undo: Undo;
  readonly effects: readonly UndoEffectResult[];
  /** How many effects the undo goes through in all: `effects` lists that many once it has ended (its progress meanwhile). */
  readonly effectCount: number;
}

/** An undo row as the API shows it. */
export function toUndo(row: Selectable<UndoTable>): Undo {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    jobId: row.job_id,
    status: row.status,
    statusReason: row.status_reason,
    attempts: row.attempts,
    counts: { reverted: row.reverted, skipped: row.skipped, failed: row.failed },
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    requestedBy: row.requested_by,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** A report line as the API shows it. */
export function toUndoEffectResult(row: Selectable<UndoResultTable>): UndoEffectResult {
  return {
    jobId: row.job_id,
    effectKey: row.effect_key,
    position: row.position,
    handler: row.handler,
    kind: row.kind,
    outcome: row.outcome,
    reason: row.reason,
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    at: row.created_at,
  };
}

/** What a pg-boss job of the undo queue (`engineQueues.undo`) carries: the undo it runs. */
export interface UndoMessage {
  readonly tenantId: string;
  readonly undoId: string;
}
