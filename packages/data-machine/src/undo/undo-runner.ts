import type { Selectable } from 'kysely';
import type { DataMachineContext } from '../context';
import type { JobEffectTable, UndoOutcome } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { effectiveHandlerConfig, flowStepConfigsSchema } from '../flows/flow-step-config';
import type { Handler, HandlerContext } from '../handlers/handler';
import { handlerEffectDetailSchema, handlerEffectPrefix, type RecordedHandlerEffect, type RevertOutcome } from '../handlers/handler-effect';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { httpForTenant, type HandlerHttp } from '../handlers/http/handler-network';
import { jobTree } from '../jobs/job-tree';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import type { HandlerSecrets } from '../secrets/handler-secrets';
import { pipelineStepsSchema, type StepLogger } from '../steps/step';
import { toUndo, type Undo, type UndoMessage } from './undo';

/** What {@link runUndo} runs with. */
export interface UndoRunnerOptions {
  readonly context: DataMachineContext;
  readonly handlers: HandlerRegistry;
  /** The network handlers' `revert` reaches out through: the undo's tenant's client, as its publishes had. */
  readonly http?: HandlerHttp;
  /** Where a handler's secret comes from, as for publishing (`createHandlerSecrets`). */
  readonly secrets?: HandlerSecrets;
  readonly logger?: StepLogger;
}

type EffectRow = Pick<Selectable<JobEffectTable>, 'job_id' | 'key' | 'kind' | 'detail' | 'seq' | 'reverted_by'>;

/**
 * Runs one undo: reverses the recorded handler effects of the job and of
 * its fan-out children, newest first, and reports each effect `reverted`,
 * `skipped` or `failed`; a failure does not stop the rest. Idempotent when
 * re-delivered: an effect with a report line in this undo is not tried
 * again, an effect another undo reverted is `skipped` / `already_reverted`,
 * and an undo that has ended is left alone. Resolves to the ended undo
 * (undefined when there is no such undo).
 */
export async function runUndo(options: UndoRunnerOptions, message: UndoMessage, signal: AbortSignal = new AbortController().signal): Promise<Undo | undefined> {
  const { context } = options;
  const started = await inTenant(context, message.tenantId, null, (trx) => startUndo(context, trx, message.undoId));
  if (started === undefined || (started.status !== 'processing')) return started;
  const { effects, done } = await inTenant(context, message.tenantId, null, async (trx) => ({
    effects: await effectsToUndo(trx, started.jobId),
    done: new Set((await trx.selectFrom('dm_undo_results').select(['job_id', 'effect_key']).where('undo_id', '=', started.id).execute()).map((row) => `${row.job_id} ${row.effect_key}`)),
  }));
  for (const [index, effect] of effects.entries()) {
    if (done.has(`${effect.job_id} ${effect.key}`)) continue;
    if (signal.aborted) throw new DataMachineError('step.failed', 'The undo was stopped before it reversed every effect; it goes on when re-delivered.');
    const outcome = effect.reverted_by !== null ? alreadyReverted(effect.reverted_by, started.id) : await revertEffect(options, started, effect, signal);
    await inTenant(context, message.tenantId, null, (trx) => recordOutcome(context, trx, started, effect, index + 1, outcome));
  }
  return inTenant(context, message.tenantId, null, (trx) => finishUndo(context, trx, started.id));
}

/** Moves a pending undo to `processing` (or counts another attempt of a processing one); an ended one is returned as it is. */
async function startUndo(context: DataMachineContext, trx: TenantTransaction, undoId: string): Promise<Undo | undefined> {
  const row = await trx.selectFrom('dm_undos').selectAll().where('id', '=', undoId).forNoKeyUpdate().executeTakeFirst();
  if (!row) return undefined;
  if (row.status === 'completed' || row.status === 'failed') return toUndo(row);
  const moved = await trx
    .updateTable('dm_undos')
    .set((eb) => ({ status: 'processing', attempts: eb('attempts', '+', 1), started_at: row.started_at ?? context.now() }))
    .where('id', '=', undoId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUndo(moved);
}

/** How many handler effects an undo of `jobId` goes through: its own and its fan-out children's. */
export async function countEffectsToUndo(trx: TenantTransaction, jobId: string): Promise<number> {
  const row = await trx
    .selectFrom('dm_job_effects')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('job_id', 'in', await jobTree(trx, jobId))
    .where('key', 'like', `${handlerEffectPrefix}%`)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** The handler effects of `jobId` and of every job under it (fan-out children, theirs), newest first. */
async function effectsToUndo(trx: TenantTransaction, jobId: string): Promise<EffectRow[]> {
  return trx
    .selectFrom('dm_job_effects')
    .select(['job_id', 'key', 'kind', 'detail', 'seq', 'reverted_by'])
    .where('job_id', 'in', await jobTree(trx, jobId))
    .where('key', 'like', `${handlerEffectPrefix}%`)
    // seq is a bigint (read as text): compare as numbers in the database, not as strings here.
    .orderBy('seq', 'desc')
    .execute();
}

function alreadyReverted(revertedBy: string, undoId: string): RevertOutcome {
  // This undo reverted it on an earlier delivery, between the revert and its report line.
  if (revertedBy === undoId) return { status: 'reverted' };
  return { status: 'skipped', reason: 'already_reverted', message: `An earlier undo (${revertedBy}) reverted it.` };
}

/** Asks the effect's handler to reverse it; an effect no handler can reverse is skipped, a typed error is a failure. */
async function revertEffect(options: UndoRunnerOptions, undo: Undo, effect: EffectRow, signal: AbortSignal): Promise<RevertOutcome> {
  const parsed = handlerEffectDetailSchema.safeParse(effect.detail);
  if (!parsed.success) return { status: 'failed', error: { code: 'handler.invalid_definition', message: 'The recorded effect is not a handler effect.' } };
  const detail = parsed.data;
  if (!detail.reversible) return { status: 'skipped', reason: 'not_reversible', message: `A ${effect.kind} effect cannot be reversed.` };
  try {
    const handler = options.handlers.get(detail.handler);
    if (handler.kind !== 'publish' || handler.revert === undefined) return { status: 'skipped', reason: 'not_reversible', message: `The ${detail.handler} handler cannot reverse effects.` };
    const call = await revertContext(options, undo, effect.job_id, detail.step, handler, signal);
    const recorded: RecordedHandlerEffect = { kind: effect.kind, ref: detail.ref, reversible: true, undo: detail.undo, ...(detail.after === undefined ? {} : { after: detail.after }), jobId: effect.job_id, stepKey: detail.step, handler: detail.handler };
    return await handler.revert(recorded, call.config, call.context);
  } catch (error) {
    // A typed failure (no config any more, a missing secret, the remote refused) is this effect's outcome; anything else is a bug or the database, and the undo is retried.
    if (DataMachineError.isInstance(error)) return { status: 'failed', error: { code: error.code, message: error.message } };
    throw error;
  }
}

/** The handler configuration and call context a revert of step `stepKey` of `jobId` runs with: the flow's current ones. */
async function revertContext(
  options: UndoRunnerOptions,
  undo: Undo,
  jobId: string,
  stepKey: string,
  handler: Handler,
  signal: AbortSignal,
): Promise<{ readonly config: unknown; readonly context: HandlerContext }> {
  const { context, handlers } = options;
  const rows = await inTenant(context, undo.tenantId, null, async (trx) => {
    const job = await trx
      .selectFrom('dm_jobs as job')
      .innerJoin('dm_tenants as tenant', 'tenant.id', 'job.tenant_id')
      .select(['job.flow_id', 'job.pipeline_id', 'tenant.allow_private_addresses'])
      .where('job.id', '=', jobId)
      .executeTakeFirstOrThrow();
    const flow = await trx.selectFrom('dm_flows').select('step_config').where('id', '=', job.flow_id).executeTakeFirst();
    const pipeline = await trx.selectFrom('dm_pipelines').select('steps').where('id', '=', job.pipeline_id).executeTakeFirst();
    return { flowId: job.flow_id, allowPrivateAddresses: job.allow_private_addresses, flow, pipeline };
  });
  const steps = pipelineStepsSchema.safeParse(rows.pipeline?.steps);
  const step = steps.success ? steps.data.find((candidate) => candidate.key === stepKey) : undefined;
  if (rows.flow === undefined || step === undefined || !('handler' in step) || step.handler !== handler.slug) {
    throw new DataMachineError('flow.invalid_config', `Step "${stepKey}" no longer publishes through ${handler.slug}; its configuration is gone.`, { details: { step: stepKey, handler: handler.slug } });
  }
  const stepConfigs = flowStepConfigsSchema.safeParse(rows.flow.step_config);
  const config = effectiveHandlerConfig(step, stepConfigs.success ? stepConfigs.data[stepKey] : undefined, handlers);
  const logger = options.logger ?? silentLogger;
  const base: HandlerContext = { tenantId: undo.tenantId, agentId: undo.agentId, flowId: rows.flowId, jobId, stepKey, logger, signal, ...(options.http === undefined ? {} : { http: httpForTenant(options.http, rows.allowPrivateAddresses) }) };
  const secret = await options.secrets?.forStep({ tenantId: undo.tenantId, agentId: undo.agentId, flowId: rows.flowId, stepKey, handler });
  return { config, context: secret === undefined ? base : { ...base, secret } };
}

/** Writes the report line of one effect and, when reverted, marks the effect reverted by this undo (at most once). */
async function recordOutcome(context: DataMachineContext, trx: TenantTransaction, undo: Undo, effect: EffectRow, position: number, outcome: RevertOutcome): Promise<void> {
  const detail = handlerEffectDetailSchema.safeParse(effect.detail);
  const now = context.now();
  const result: { outcome: UndoOutcome; reason: string | null; error_code: string | null; error_message: string | null } =
    outcome.status === 'reverted'
      ? { outcome: 'reverted', reason: null, error_code: null, error_message: null }
      : outcome.status === 'skipped'
        ? { outcome: 'skipped', reason: outcome.reason, error_code: null, error_message: outcome.message ?? null }
        : { outcome: 'failed', reason: null, error_code: outcome.error.code, error_message: outcome.error.message };
  await trx
    .insertInto('dm_undo_results')
    .values({ tenant_id: undo.tenantId, agent_id: undo.agentId, undo_id: undo.id, job_id: effect.job_id, effect_key: effect.key, position, handler: detail.success ? detail.data.handler : null, kind: effect.kind, ...result, created_at: now })
    .onConflict((conflict) => conflict.columns(['undo_id', 'job_id', 'effect_key']).doNothing())
    .execute();
  if (outcome.status === 'reverted') {
    await trx.updateTable('dm_job_effects').set({ reverted_by: undo.id, reverted_at: now }).where('job_id', '=', effect.job_id).where('key', '=', effect.key).where('reverted_by', 'is', null).execute();
  }
}

/** Counts the report and ends the undo: `completed`, or `failed` with `effects_failed:<n>`. */
async function finishUndo(context: DataMachineContext, trx: TenantTransaction, undoId: string): Promise<Undo> {
  const counts = await trx
    .selectFrom('dm_undo_results')
    .select((eb) => ['outcome', eb.fn.countAll<string>().as('count')])
    .where('undo_id', '=', undoId)
    .groupBy('outcome')
    .execute();
  const count = (outcome: UndoOutcome): number => Number(counts.find((row) => row.outcome === outcome)?.count ?? 0);
  const failed = count('failed');
  const row = await trx
    .updateTable('dm_undos')
    .set({
      status: failed > 0 ? 'failed' : 'completed',
      status_reason: failed > 0 ? `effects_failed:${failed}` : null,
      reverted: count('reverted'),
      skipped: count('skipped'),
      failed,
      finished_at: context.now(),
    })
    .where('id', '=', undoId)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUndo(row);
}

/** Ends an undo that could not run at all (out of deliveries): `failed` with the error. */
export function failUndo(context: DataMachineContext, message: UndoMessage, error: { readonly code: string; readonly message: string }): Promise<void> {
  return inTenant(context, message.tenantId, null, async (trx) => {
    await trx
      .updateTable('dm_undos')
      .set({ status: 'failed', status_reason: 'undo_failed', error_code: error.code, error_message: error.message, finished_at: context.now() })
      .where('id', '=', message.undoId)
      .where('status', 'in', ['pending', 'processing'])
      .execute();
  });
}

const silentLogger: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };
