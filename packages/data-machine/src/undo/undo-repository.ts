import type PgBoss from 'pg-boss';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { actingUserId } from '../access/actor';
import { kyselyBossDatabase } from '../engine/boss-database';
import { engineQueues, type JobEngine } from '../engine/job-engine';
import { isEndedJobStatus } from '../jobs/job';
import { findAgentJob } from '../jobs/job-repository';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { toUndo, toUndoEffectResult, type Undo, type UndoMessage, type UndoReport } from './undo';
import { countEffectsToUndo } from './undo-runner';

// Operator-facing: requesting an undo needs `job.undo` (operators and above of
// the agent), reading one `logs.read`. A job or undo of another agent is
// `*.not_found`, exactly as a missing one.

/**
 * Requests the undo of a job's effects, with its fan-out children's
 * (`job.undo`): writes the undo and enqueues its pg-boss job in one
 * transaction, and resolves to the `pending` undo. The job must have ended
 * (`undo.job_live` otherwise: its effects are still growing), and no other
 * undo of it may be pending or running (`undo.in_progress`). Undoing a job
 * again after an undo ended is allowed: effects already reverted are
 * reported `skipped` / `already_reverted`, and only the rest are tried again.
 *
 * @example
 * const undo = await requestUndo(context, engine, scope, 'bot', jobId);
 * // later: (await getUndoReport(context, scope, 'bot', jobId, undo.id)).effects
 */
export function requestUndo(context: DataMachineContext, engine: JobEngine, scope: Scope, agentRef: string, jobId: string): Promise<Undo> {
  return agentOperation(context, scope, 'job.undo', agentRef, async (trx, agent) => {
    // Locked: two requests for the same job queue up here, and the second sees the first's undo.
    const job = await findAgentJob(trx, agent.id, jobId, { lock: true });
    if (!isEndedJobStatus(job.status)) {
      throw new DataMachineError('undo.job_live', `The job "${jobId}" has not ended (${job.status}); cancel it or let it end before undoing it.`, { details: { job: jobId, status: job.status } });
    }
    const live = await trx.selectFrom('dm_undos').select('id').where('job_id', '=', job.id).where('status', 'in', ['pending', 'processing']).executeTakeFirst();
    if (live) throw new DataMachineError('undo.in_progress', `An undo of the job "${jobId}" is already pending or running.`, { details: { job: jobId, undo: live.id } });
    const row = await trx
      .insertInto('dm_undos')
      .values({ id: context.newId('undo'), tenant_id: job.tenant_id, agent_id: job.agent_id, job_id: job.id, status: 'pending', requested_by: actingUserId(scope.actor), created_at: context.now() })
      .returningAll()
      .executeTakeFirstOrThrow();
    await enqueueUndo(engine, trx, { tenantId: row.tenant_id, undoId: row.id });
    return toUndo(row);
  });
}

/** Enqueues the pg-boss job that runs an undo, in the caller's transaction. */
export async function enqueueUndo(engine: JobEngine, trx: TenantTransaction, message: UndoMessage): Promise<void> {
  const { redeliveries, expireInSeconds } = engine.options;
  await engine.boss.insert([{ name: engineQueues.undo, data: { ...message }, retryLimit: redeliveries, retryDelay: 0, expireInSeconds }], {
    db: kyselyBossDatabase(trx) as PgBoss.Db,
  });
}

/** An undo of a job of the agent with its per-effect report, in the order effects were reversed (`logs.read`). */
export function getUndoReport(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string, undoId: string): Promise<UndoReport> {
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId);
    const row = await trx.selectFrom('dm_undos').selectAll().where('id', '=', undoId).where('job_id', '=', job.id).executeTakeFirst();
    if (!row) throw new DataMachineError('undo.not_found', `There is no undo "${undoId}" of the job "${jobId}".`, { details: { job: jobId, undo: undoId } });
    const results = await trx.selectFrom('dm_undo_results').selectAll().where('undo_id', '=', row.id).orderBy('position').execute();
    return { undo: toUndo(row), effects: results.map(toUndoEffectResult), effectCount: await countEffectsToUndo(trx, job.id) };
  });
}

/** The undos of a job of the agent, newest first (`logs.read`). */
export function listUndos(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string): Promise<readonly Undo[]> {
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId);
    const rows = await trx.selectFrom('dm_undos').selectAll().where('job_id', '=', job.id).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(100).execute();
    return rows.map(toUndo);
  });
}
