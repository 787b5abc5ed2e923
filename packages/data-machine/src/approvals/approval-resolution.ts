import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { loadAccess, type Scope } from '../scope/scope';
import { inTenant, inTransaction, type TenantTransaction } from '../scope/tenant-transaction';
import { signApprovalLink, verifyApprovalLink } from './approval-links';
import { approvalSignal, type ApprovalDecisionKind, type ApprovalResolution, type PendingAction } from './pending-action';
import { decideAction, duePendingActions, findActionRow, toPendingAction, visibleOrMissing, type ActionDecision } from './pending-action-repository';

/** What a decision releases the waiting job with. */
export interface ApprovalReleasePayload {
  readonly actionId: string;
  readonly decision: ApprovalDecisionKind;
  readonly reason: string | null;
}

/**
 * Resumes the job waiting on an action, inside the transaction that decided
 * it (the server passes the engine's `signalJob`), so the decision and the
 * release commit together or not at all.
 */
export type ReleaseJob = (trx: TenantTransaction, release: { readonly tenantId: string; readonly jobId: string; readonly signal: string; readonly payload: ApprovalReleasePayload }) => Promise<void>;

/**
 * Accepts or rejects a pending action as a member with `approval.resolve` on
 * its agent (operators and above), then releases the job waiting on it, in
 * one transaction. Accepting moves the action to `applying`: the job's run
 * then executes the stored call, exactly as it was held (nothing in the
 * request can change it). Single use: of two racing decisions, one wins and
 * the other is `approval.already_resolved`.
 *
 * @example
 * await resolvePendingAction(context, release, scope, actionId, 'reject', { reason: 'Wrong tone.' });
 */
export function resolvePendingAction(
  context: DataMachineContext,
  release: ReleaseJob,
  scope: Scope,
  actionId: string,
  decision: ApprovalDecisionKind,
  resolution: ApprovalResolution = {},
): Promise<PendingAction> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const [row, access] = await Promise.all([findActionRow(trx, actionId), loadAccess(trx, scope)]);
    visibleOrMissing(context, scope, access, row, actionId, 'approval.resolve');
    return decideAndRelease(context, trx, release, row.id, decision, { decidedBy: actingUserId(scope.actor), decidedVia: 'api', ...reasonOf(resolution) }, scope.tenantId);
  });
}

/** What a signed link will do, shown before anything is decided (a `GET` of the link must never decide). */
export interface ApprovalLinkPreview {
  readonly action: PendingAction;
  readonly decision: ApprovalDecisionKind;
  readonly linkExpiresAt: Date;
}

/** Reads the action a signed link is for; `approval.link_invalid` / `approval.link_expired` / `approval.not_found` otherwise. */
export async function previewApprovalLink(context: DataMachineContext, secret: string | Uint8Array, token: string): Promise<ApprovalLinkPreview> {
  const claims = verifyApprovalLink(secret, token, context.now());
  const row = await inTenant(context, claims.tenantId, null, (trx) => findActionRow(trx, claims.actionId));
  if (!row) throw new DataMachineError('approval.not_found', `There is no pending action "${claims.actionId}".`, { details: { action: claims.actionId } });
  return { action: toPendingAction(row), decision: claims.decision, linkExpiresAt: claims.expiresAt };
}

/**
 * Takes the decision a signed link carries: the link is the authority (it
 * was sent to whoever may decide), and it decides only a pending action, so
 * it is usable once. Its nonce is recorded on the action.
 */
export async function resolveByApprovalLink(
  context: DataMachineContext,
  release: ReleaseJob,
  secret: string | Uint8Array,
  token: string,
  resolution: ApprovalResolution = {},
): Promise<PendingAction> {
  const claims = verifyApprovalLink(secret, token, context.now());
  return inTenant(context, claims.tenantId, null, (trx) =>
    decideAndRelease(context, trx, release, claims.actionId, claims.decision, { decidedBy: null, decidedVia: 'link', nonce: claims.nonce, ...reasonOf(resolution) }, claims.tenantId),
  );
}

/** A pair of signed links for one pending action, and when they stop working. */
export interface ApprovalLinks {
  readonly accept: string;
  readonly reject: string;
  readonly expiresAt: Date;
}

/**
 * Signs an accept and a reject link for a pending action, for a member who
 * may resolve it (to forward them, or to send them in a notification). They
 * expire with the action, or after `ttlMs` if sooner (default one day).
 */
export function issueApprovalLinks(context: DataMachineContext, scope: Scope, secret: string | Uint8Array, actionId: string, options: { readonly ttlMs?: number } = {}): Promise<ApprovalLinks> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const [row, access] = await Promise.all([findActionRow(trx, actionId), loadAccess(trx, scope)]);
    visibleOrMissing(context, scope, access, row, actionId, 'approval.resolve');
    if (row.status !== 'pending') {
      throw new DataMachineError('approval.already_resolved', `The action "${actionId}" was already decided: it is ${row.status}.`, { details: { action: actionId, status: row.status } });
    }
    const expiresAt = new Date(Math.min(row.expires_at.getTime(), context.now().getTime() + (options.ttlMs ?? 24 * 60 * 60 * 1000)));
    const claims = { tenantId: scope.tenantId, actionId, expiresAt };
    return { accept: signApprovalLink(secret, { ...claims, decision: 'accept' }), reject: signApprovalLink(secret, { ...claims, decision: 'reject' }), expiresAt };
  });
}

/** What one expiry sweep did. */
export interface ApprovalExpiryReport {
  /** Actions rejected because their expiry passed. */
  readonly rejected: number;
}

/**
 * Rejects every pending action whose expiry has passed (reason `expired`) and
 * releases its job, which resumes the run with the rejection as the tool
 * result. A job no longer waiting (cancelled, or already resumed by its own
 * timeout) keeps the rejection: the step reads it when it runs. Each action
 * is its own transaction; at most `limit` per tenant and run.
 */
export async function expirePendingActions(context: DataMachineContext, release: ReleaseJob, options: { readonly limit?: number } = {}): Promise<ApprovalExpiryReport> {
  const limit = options.limit ?? 500;
  const tenants = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_tenants').select('id').orderBy('id').execute());
  let rejected = 0;
  for (const { id: tenantId } of tenants) {
    const due = await inTenant(context, tenantId, null, (trx) => duePendingActions(trx, tenantId, context.now(), limit));
    for (const action of due) {
      const done = await inTenant(context, tenantId, null, (trx) => expireOne(context, trx, release, tenantId, action.id));
      if (done) rejected += 1;
    }
  }
  return { rejected };
}

/** Rejects one expired action and releases its job; false when another decision got there first. */
async function expireOne(context: DataMachineContext, trx: TenantTransaction, release: ReleaseJob, tenantId: string, actionId: string): Promise<boolean> {
  try {
    await decideAndRelease(context, trx, release, actionId, 'reject', { decidedBy: null, decidedVia: 'expiry', reason: expiredReason }, tenantId);
    return true;
  } catch (error) {
    if (DataMachineError.isInstance(error) && error.code === 'approval.already_resolved') return false;
    throw error;
  }
}

/** The reason an expired action is rejected with, as the model reads it. */
export const expiredReason = 'No one approved it before it expired.';

async function decideAndRelease(
  context: DataMachineContext,
  trx: TenantTransaction,
  release: ReleaseJob,
  actionId: string,
  decision: ApprovalDecisionKind,
  how: Omit<ActionDecision, 'to'>,
  tenantId: string,
): Promise<PendingAction> {
  const decided = await decideAction(context, trx, actionId, { ...how, to: decision === 'accept' ? 'applying' : 'rejected' });
  // A chat session's action waits for no job: its owner's next turn reads the decision.
  if (decided.jobId === null) return decided;
  const payload: ApprovalReleasePayload = { actionId, decision, reason: decided.reason };
  try {
    await release(trx, { tenantId, jobId: decided.jobId, signal: approvalSignal(actionId), payload });
  } catch (error) {
    // The expiry sweep keeps its rejection when the job has stopped waiting: the step reads the action when it runs.
    if (how.decidedVia !== 'expiry' || !isGoneWait(error)) throw error;
  }
  return decided;
}

/** A job no longer waiting for the signal, or gone: nothing to release. */
function isGoneWait(error: unknown): boolean {
  if (!DataMachineError.isInstance(error)) return false;
  const code: string = error.code;
  return code === 'job.not_waiting' || code === 'job.not_found';
}

function reasonOf(resolution: ApprovalResolution): { reason?: string } {
  return resolution.reason === undefined ? {} : { reason: resolution.reason };
}

export type { ApprovalResolution };
