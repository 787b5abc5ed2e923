import { z } from 'zod';
import type { ConversationStatus } from '../runner/conversation-runner';

/** A caller's idempotency key: 1 to 200 characters, unique per session. */
export const idempotencyKeySchema = z.string().min(1).max(200);

/** `running` until the run ends; then how it ended. A run that crashed or lost its lease stays `running`: a retry with its key continues it. */
export type RunStatus = 'running' | ConversationStatus;

/** What a run has spent across all its attempts; budgets count from here when it is continued. */
export interface RunUsage {
  readonly turns: number;
  readonly tokens: number;
  readonly wallClockMs: number;
}

/** One session run, kept durably so a retried caller finds it again. */
export interface RunRecord {
  readonly id: string;
  readonly sessionId: string;
  readonly agentSlug: string;
  readonly userId: string | null;
  readonly tenantId: string | null;
  readonly idempotencyKey: string | null;
  readonly status: RunStatus;
  readonly failureCode: string | null;
  /** Per turn, as the run recorded it (`{ model, finishReason, usage }`); stored, not interpreted. */
  readonly turnUsage: readonly unknown[];
  /** The run's total model usage, as the runner reported it. */
  readonly usage: Readonly<Record<string, unknown>>;
  readonly used: RunUsage;
  /** How many times the run was started or continued. */
  readonly attempts: number;
  /** The session's last sequence number when the run began: its input and output follow it. */
  readonly seqAtStart: number;
  /** The ended run's result (JSON), returned again for its idempotency key; null while running. */
  readonly result: unknown;
  readonly startedAt: Date;
  readonly updatedAt: Date;
  readonly endedAt: Date | null;
}

/** What {@link TranscriptStore.beginRun} takes. */
export interface NewRun {
  readonly agentSlug: string;
  /** Finds the session's run with this key instead of making a second one. */
  readonly idempotencyKey?: string;
  readonly seqAtStart: number;
}

/** A new run, or the session's existing run with the same idempotency key (its attempts counted up while it runs). */
export type RunBegin = { readonly created: true; readonly run: RunRecord } | { readonly created: false; readonly run: RunRecord };

/** Changes to a run record; `ended: true` stamps `endedAt`. */
export interface RunUpdate {
  readonly status?: RunStatus;
  readonly failureCode?: string | null;
  readonly turnUsage?: readonly unknown[];
  readonly usage?: Readonly<Record<string, unknown>>;
  readonly used?: RunUsage;
  readonly result?: unknown;
  readonly ended?: boolean;
}

const runUsageSchema = z.object({ turns: z.int().min(0), tokens: z.int().min(0), wallClockMs: z.int().min(0) });
const runStatusSchema = z.enum(['running', 'completed', 'failed', 'approval_required', 'input_required', 'budget_exceeded', 'stalled', 'cancelled', 'tool_calls_required']);

/** @internal Checked by every store. */
export const newRunSchema = z.object({ agentSlug: z.string().min(1), idempotencyKey: idempotencyKeySchema.optional(), seqAtStart: z.int().min(0) });
/** @internal Checked by every store. */
export const runUpdateSchema = z.object({
  status: runStatusSchema.optional(),
  failureCode: z.string().min(1).max(200).nullable().optional(),
  turnUsage: z.array(z.unknown()).optional(),
  usage: z.record(z.string(), z.unknown()).optional(),
  used: runUsageSchema.optional(),
  result: z.unknown().optional(),
  ended: z.boolean().optional(),
});
