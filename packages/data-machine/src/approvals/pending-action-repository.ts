import type { Selectable } from 'kysely';
import { decide } from '../access/authorize';
import type { DataMachineContext } from '../context';
import type { PendingActionTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { decodeCursor, pageOf, type Page } from '../jobs/page-cursor';
import { enforce, loadAccess, type CurrentAccess, type Scope } from '../scope/scope';
import { findAgent } from '../scope/scoped-operation';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import { actingUserId } from '../access/actor';
import { pendingActionListOptionsSchema, type DecidedVia, type PendingAction, type PendingActionListOptions } from './pending-action';
import { parseInput } from '../input';

type PendingActionRow = Selectable<PendingActionTable>;

/** A call to hold: what {@link holdPendingAction} stores. */
export type NewPendingAction = Pick<PendingAction, 'agentId' | 'toolCallId' | 'kind' | 'summary' | 'preview' | 'toolName' | 'input' | 'triggeredBy' | 'expiresAt'> & {
  readonly jobId: string;
  readonly stepKey: string;
};

/**
 * Stores a held call as a `pending` action, or returns the one already stored
 * for the same job, step and tool call (a re-run of the step finds it).
 */
export async function holdPendingAction(context: DataMachineContext, trx: TenantTransaction, tenantId: string, action: NewPendingAction): Promise<PendingAction> {
  await trx
    .insertInto('dm_pending_actions')
    .values(newActionRow(context, tenantId, action, { job_id: action.jobId, step_key: action.stepKey, session_id: null }))
    .onConflict((conflict) => conflict.columns(['job_id', 'step_key', 'tool_call_id']).doNothing())
    .execute();
  const row = await trx
    .selectFrom('dm_pending_actions')
    .selectAll()
    .where('job_id', '=', action.jobId)
    .where('step_key', '=', action.stepKey)
    .where('tool_call_id', '=', action.toolCallId)
    .executeTakeFirstOrThrow();
  return toPendingAction(row);
}

/** What holds an action: a job's step, or a chat session. */
type ActionHolder = { readonly job_id: string; readonly step_key: string; readonly session_id: null } | { readonly job_id: null; readonly step_key: null; readonly session_id: string };

/** The new `pending` row of a held call. */
function newActionRow(context: DataMachineContext, tenantId: string, action: Omit<NewPendingAction, 'jobId' | 'stepKey'>, holder: ActionHolder) {
  const now = context.now();
  return {
    id: context.newId('act'),
    tenant_id: tenantId,
    agent_id: action.agentId,
    ...holder,
    tool_call_id: action.toolCallId,
    kind: action.kind,
    summary: action.summary,
    preview: JSON.stringify(action.preview ?? null),
    tool_name: action.toolName,
    input: JSON.stringify(action.input ?? null),
    triggered_by: action.triggeredBy,
    status: 'pending' as const,
    expires_at: action.expiresAt,
    created_at: now,
    updated_at: now,
  };
}

/** The actions of one job step, by tool call id (the engine reads them, as no user). */
export async function stepPendingActions(trx: TenantTransaction, jobId: string, stepKey: string): Promise<Map<string, PendingAction>> {
  const rows = await trx.selectFrom('dm_pending_actions').selectAll().where('job_id', '=', jobId).where('step_key', '=', stepKey).execute();
  return new Map(rows.map((row) => [row.tool_call_id, toPendingAction(row)]));
}

/**
 * Lists pending actions newest first, of one agent (`agent`: `approval.read`
 * on it) or of every agent the actor may read them on, optionally by status
 * and by the chat session that held them.
 */
export async function listPendingActions(context: DataMachineContext, scope: Scope, options: PendingActionListOptions = {}): Promise<Page<PendingAction>> {
  const { limit, cursor, agent, status, session } = parseInput(pendingActionListOptionsSchema, options, 'approval list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const access = await loadAccess(trx, scope);
    let agentIds: string[];
    if (agent !== undefined) {
      const row = await findAgent(trx, scope.tenantId, agent);
      enforce(context, scope, access, 'approval.read', row ? { agentId: row.id, namedAs: agent } : { missingAgentRef: agent });
      agentIds = row ? [row.id] : [];
    } else {
      const agents = await trx.selectFrom('dm_agents').select('id').where('tenant_id', '=', scope.tenantId).execute();
      const now = context.now();
      agentIds = agents.map((row) => row.id).filter((id) => decide(access.actor, access.facts, 'approval.read', { tenantId: scope.tenantId, agentId: id }, now).allowed);
    }
    if (agentIds.length === 0) return { items: [], nextCursor: null };
    let query = trx.selectFrom('dm_pending_actions').selectAll().where('tenant_id', '=', scope.tenantId).where('agent_id', 'in', agentIds);
    if (status !== undefined) query = query.where('status', '=', status);
    if (session !== undefined) query = query.where('session_id', '=', session);
    if (after !== undefined) {
      query = query.where((eb) => eb.or([eb('created_at', '<', after.at), eb.and([eb('created_at', '=', after.at), eb('id', '<', after.id)])]));
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), toPendingAction);
  });
}

/** One pending action, for whoever may read actions of its agent; one the actor may not see is `approval.not_found`. */
export async function getPendingAction(context: DataMachineContext, scope: Scope, actionId: string): Promise<PendingAction> {
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const row = await findActionRow(trx, actionId);
    const access = await loadAccess(trx, scope);
    visibleOrMissing(context, scope, access, row, actionId, 'approval.read');
    return toPendingAction(row as PendingActionRow);
  });
}

/** The row of `actionId` in the transaction's tenant, optionally locked. */
export function findActionRow(trx: TenantTransaction, actionId: string, options: { readonly lock?: boolean } = {}): Promise<PendingActionRow | undefined> {
  const query = trx.selectFrom('dm_pending_actions').selectAll().where('id', '=', actionId);
  return (options.lock === true ? query.forUpdate() : query).executeTakeFirst();
}

/**
 * Refuses an action the actor may not `action` on: one that is missing or on
 * an agent the actor may not see is `approval.not_found`, never
 * `agent.not_found`, so an id reveals nothing; a visible one the actor may
 * not act on is `access.denied`.
 */
export function visibleOrMissing(
  context: DataMachineContext,
  scope: Scope,
  access: CurrentAccess,
  row: PendingActionRow | undefined,
  actionId: string,
  action: 'approval.read' | 'approval.resolve',
): asserts row is PendingActionRow {
  try {
    enforce(context, scope, access, action, row ? { agentId: row.agent_id } : { missingAgentRef: actionId });
  } catch (error) {
    if (DataMachineError.isInstance(error) && error.code === 'agent.not_found') throw approvalNotFound(actionId);
    throw error;
  }
  if (!row) throw approvalNotFound(actionId);
}

/** The error for an action that does not exist or may not be seen. */
export function approvalNotFound(actionId: string): DataMachineError {
  return new DataMachineError('approval.not_found', `There is no pending action "${actionId}".`, { details: { action: actionId } });
}

/** A decision, as {@link decideAction} writes it. */
export interface ActionDecision {
  readonly to: 'applying' | 'rejected';
  readonly decidedBy: string | null;
  readonly decidedVia: DecidedVia;
  readonly reason?: string;
  /** The signed link's nonce, when a link decided. */
  readonly nonce?: string;
}

/**
 * Moves `pending` to `applying` or `rejected`, once: the update applies only
 * to a row still pending, so of two racing decisions one updates it and the
 * other finds it decided (`approval.already_resolved`). An action past its
 * expiry is `approval.expired` unless the decision is the expiry's own.
 */
export async function decideAction(context: DataMachineContext, trx: TenantTransaction, actionId: string, decision: ActionDecision): Promise<PendingAction> {
  const now = context.now();
  let update = trx
    .updateTable('dm_pending_actions')
    .set({
      status: decision.to,
      decided_by: decision.decidedBy,
      decided_via: decision.decidedVia,
      decided_nonce: decision.nonce ?? null,
      decided_at: now,
      reason: decision.reason ?? null,
      updated_at: now,
    })
    .where('id', '=', actionId)
    .where('status', '=', 'pending');
  if (decision.decidedVia !== 'expiry') update = update.where('expires_at', '>', now);
  const row = await update.returningAll().executeTakeFirst();
  if (row) return toPendingAction(row);
  const current = await findActionRow(trx, actionId);
  if (!current) throw approvalNotFound(actionId);
  if (current.status !== 'pending') {
    throw new DataMachineError('approval.already_resolved', `The action "${actionId}" was already decided: it is ${current.status}.`, { details: { action: actionId, status: current.status } });
  }
  throw new DataMachineError('approval.expired', `The action "${actionId}" expired at ${current.expires_at.toISOString()}; it will be rejected.`, { details: { action: actionId, expiresAt: current.expires_at.toISOString() } });
}

/** Records how applying an accepted action ended: `applying -> accepted | failed`, with the tool's result. */
export async function settleAction(context: DataMachineContext, trx: TenantTransaction, actionId: string, outcome: { readonly status: 'accepted' | 'failed'; readonly result: unknown }): Promise<void> {
  await trx
    .updateTable('dm_pending_actions')
    .set({ status: outcome.status, result: JSON.stringify(outcome.result ?? null), updated_at: context.now() })
    .where('id', '=', actionId)
    .where('status', '=', 'applying')
    .execute();
}

/** Pending actions of a tenant whose expiry has passed, oldest first. */
export async function duePendingActions(trx: TenantTransaction, tenantId: string, now: Date, limit: number): Promise<PendingActionRow[]> {
  return trx
    .selectFrom('dm_pending_actions')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'pending')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit)
    .execute();
}

/** A row as the product reads it. */
export function toPendingAction(row: PendingActionRow): PendingAction {
  return {
    id: row.id,
    agentId: row.agent_id,
    jobId: row.job_id,
    stepKey: row.step_key,
    sessionId: row.session_id,
    toolCallId: row.tool_call_id,
    kind: row.kind,
    summary: row.summary,
    preview: row.preview,
    toolName: row.tool_name,
    input: row.input,
    triggeredBy: row.triggered_by,
    status: row.status,
    expiresAt: row.expires_at,
    decidedBy: row.decided_by,
    decidedVia: row.decided_via as DecidedVia | null,
    decidedAt: row.decided_at,
    reason: row.reason,
    result: row.result ?? null,
    createdAt: row.created_at,
  };
}

/** A call a chat turn held: what {@link holdSessionAction} stores. */
export type NewSessionAction = Pick<PendingAction, 'agentId' | 'toolCallId' | 'kind' | 'summary' | 'preview' | 'toolName' | 'input' | 'triggeredBy' | 'expiresAt'> & {
  readonly sessionId: string;
};

/**
 * Stores a call a chat turn held as a `pending` action of its session, or
 * returns the one already stored for the same session and tool call.
 */
export async function holdSessionAction(context: DataMachineContext, trx: TenantTransaction, tenantId: string, action: NewSessionAction): Promise<PendingAction> {
  await trx
    .insertInto('dm_pending_actions')
    .values(newActionRow(context, tenantId, action, { job_id: null, step_key: null, session_id: action.sessionId }))
    .onConflict((conflict) => conflict.columns(['session_id', 'tool_call_id']).doNothing())
    .execute();
  const row = await trx.selectFrom('dm_pending_actions').selectAll().where('session_id', '=', action.sessionId).where('tool_call_id', '=', action.toolCallId).executeTakeFirstOrThrow();
  return toPendingAction(row);
}

/**
 * The actions of a chat session whose decision its transcript has not had
 * yet: still `pending`, accepted and not yet run (`applying`), or rejected
 * and not yet told to the model (no `result`).
 */
export async function undeliveredSessionActions(trx: TenantTransaction, sessionId: string): Promise<PendingAction[]> {
  const rows = await trx
    .selectFrom('dm_pending_actions')
    .selectAll()
    .where('session_id', '=', sessionId)
    .where((eb) => eb.or([eb('status', 'in', ['pending', 'applying']), eb.and([eb('status', '=', 'rejected'), eb('result', 'is', null)])]))
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toPendingAction);
}

/** The action a chat session holds for one tool call. */
export async function findSessionAction(trx: TenantTransaction, sessionId: string, toolCallId: string): Promise<PendingAction | undefined> {
  const row = await trx.selectFrom('dm_pending_actions').selectAll().where('session_id', '=', sessionId).where('tool_call_id', '=', toolCallId).executeTakeFirst();
  return row ? toPendingAction(row) : undefined;
}

/** Marks rejections as told to the model: their tool result is the rejection. */
export async function markRejectionsDelivered(context: DataMachineContext, trx: TenantTransaction, actionIds: readonly string[]): Promise<void> {
  if (actionIds.length === 0) return;
  await trx
    .updateTable('dm_pending_actions')
    .set({ result: JSON.stringify({ outcome: 'rejected' }), updated_at: context.now() })
    .where('id', 'in', actionIds)
    .where('status', '=', 'rejected')
    .where('result', 'is', null)
    .execute();
}
