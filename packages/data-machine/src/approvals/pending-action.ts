import { z } from 'zod';
import type { PendingActionStatus } from '../database/data-machine-database';
import { pageOptionsSchema } from '../jobs/page-cursor';

export type { PendingActionStatus } from '../database/data-machine-database';

/** Every status of a pending action, in the order it moves: `pending -> applying -> accepted | failed`, or `pending -> rejected`. */
export const pendingActionStatuses = ['pending', 'applying', 'accepted', 'rejected', 'failed'] as const satisfies readonly PendingActionStatus[];
export const pendingActionStatusSchema = z.enum(pendingActionStatuses);

/** A human's decision on a pending action. */
export const approvalDecisions = ['accept', 'reject'] as const;
export type ApprovalDecisionKind = (typeof approvalDecisions)[number];
export const approvalDecisionSchema = z.enum(approvalDecisions);

/** How a decision was taken: through the API or CLI by a member, through a signed link, or by the expiry sweep. */
export type DecidedVia = 'api' | 'link' | 'expiry';

/**
 * A tool call an agent's run held for a human. `toolName` and `input` are the
 * exact call that accepting applies; nothing changes them after the preview.
 * A job's `ai` step holds it (`jobId` and `stepKey` set, `sessionId` null) or
 * a chat turn does (`sessionId` set, the other two null).
 */
export interface PendingAction {
  readonly id: string;
  readonly agentId: string;
  readonly jobId: string | null;
  readonly stepKey: string | null;
  /** The chat session whose turn held it; its owner's next turn applies the decision. */
  readonly sessionId: string | null;
  readonly toolCallId: string;
  /** What kind of action it is (the tool's category, e.g. `publish`). */
  readonly kind: string;
  readonly summary: string;
  /** What the approver is shown. */
  readonly preview: unknown;
  readonly toolName: string;
  readonly input: unknown;
  /** The user the run acted for. */
  readonly triggeredBy: string | null;
  readonly status: PendingActionStatus;
  readonly expiresAt: Date;
  readonly decidedBy: string | null;
  readonly decidedVia: DecidedVia | null;
  readonly decidedAt: Date | null;
  readonly reason: string | null;
  /** What applying it gave (the tool's result), once `accepted` or `failed`. */
  readonly result: unknown;
  readonly createdAt: Date;
}

/** The list filters of `GET /approvals`: an agent (id or slug), a status, a chat session, and a page. */
export const pendingActionListOptionsSchema = pageOptionsSchema
  .extend({ agent: z.string().min(1).max(200).optional(), status: pendingActionStatusSchema.optional(), session: z.string().min(1).max(200).optional() })
  .strict();
export type PendingActionListOptions = z.input<typeof pendingActionListOptionsSchema>;

/** A decision as the API and CLI take it: an optional reason, told to the model on a rejection. */
export const approvalResolutionSchema = z.strictObject({ reason: z.string().min(1).max(2_000).optional() });
export type ApprovalResolution = z.infer<typeof approvalResolutionSchema>;

/** The signal a job waiting on action `actionId` is released with. */
export function approvalSignal(actionId: string): string {
  return `approval:${actionId}`;
}
