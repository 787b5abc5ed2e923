import type { Selectable } from 'kysely';
import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { isUniqueViolation } from '../database/database-errors';
import type { PipelineTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { checkFlowStepConfig } from '../flows/flow-step-config';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { nameSchema, parseInput, slugSchema } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { pipelineStepsSchema, type PipelineStep, type PipelineStepInput } from '../steps/step';
import { checkPipelineSteps } from './pipeline-steps';

/** A pipeline row as read. */
export type PipelineRow = Selectable<PipelineTable>;

/** An ordered list of steps an agent owns; flows are its configured, scheduled instances. */
export interface Pipeline {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly slug: string;
  readonly name: string;
  readonly steps: readonly PipelineStep[];
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What {@link createPipeline} takes. `steps` are checked by {@link checkPipelineSteps} (`pipeline.invalid_steps`). */
export const newPipelineSchema = z.strictObject({ slug: slugSchema, name: nameSchema, steps: z.array(z.unknown()) });
export type NewPipeline = { readonly slug: string; readonly name: string; readonly steps: readonly PipelineStepInput[] };

/** What {@link updatePipeline} takes: the fields to change. */
export const pipelinePatchSchema = z.strictObject({ slug: slugSchema.optional(), name: nameSchema.optional(), steps: z.array(z.unknown()).optional() });
export type PipelinePatch = { readonly slug?: string; readonly name?: string; readonly steps?: readonly PipelineStepInput[] };

/**
 * Creates a pipeline of the agent `agentRef` (`flow.create`). Its steps are
 * validated against `handlers` first; a slug the agent already uses is
 * `pipeline.slug_taken`. Nothing is written on any refusal.
 *
 * @example
 * await createPipeline(context, scope, handlers, 'bot', {
 *   slug: 'digest', name: 'Digest',
 *   steps: [{ key: 'fetch', type: 'fetch', handler: 'json_items' }, { key: 'store', type: 'publish', handler: 'records' }],
 * });
 */
export async function createPipeline(context: DataMachineContext, scope: Scope, handlers: HandlerRegistry, agentRef: string, input: NewPipeline): Promise<Pipeline> {
  const fields = parseInput(newPipelineSchema, input, 'pipeline');
  const steps = checkPipelineSteps(fields.steps, handlers);
  try {
    return await agentOperation(context, scope, 'flow.create', agentRef, (trx, agent) =>
      insertPipeline(context, trx, { tenantId: scope.tenantId, agentId: agent.id, slug: fields.slug, name: fields.name, steps, createdBy: actingUserId(scope.actor) }),
    );
  } catch (error) {
    throw mapPipelineWriteError(error, fields.slug);
  }
}

/** The pipeline with id or slug `pipelineRef` of the agent (`agent.read`). */
export function getPipeline(context: DataMachineContext, scope: Scope, agentRef: string, pipelineRef: string): Promise<Pipeline> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => toPipeline(await requirePipeline(trx, agent.id, pipelineRef)));
}

/** The agent's pipelines, by slug (`agent.read`). */
export function listPipelines(context: DataMachineContext, scope: Scope, agentRef: string): Promise<readonly Pipeline[]> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    const rows = await trx.selectFrom('dm_pipelines').selectAll().where('agent_id', '=', agent.id).orderBy('slug').execute();
    return rows.map(toPipeline);
  });
}

/**
 * Changes a pipeline's slug, name or steps (`flow.create`). New steps are
 * validated, and so is every flow of the pipeline against them: a change that
 * would leave a flow's configuration invalid (a removed step it configures, a
 * handler whose schema its configuration fails) is `flow.invalid_config`
 * naming the flow, and nothing changes.
 */
export async function updatePipeline(
  context: DataMachineContext,
  scope: Scope,
  handlers: HandlerRegistry,
  agentRef: string,
  pipelineRef: string,
  patch: PipelinePatch,
): Promise<Pipeline> {
  const fields = parseInput(pipelinePatchSchema, patch, 'pipeline change');
  const steps = fields.steps === undefined ? undefined : checkPipelineSteps(fields.steps, handlers);
  try {
    return await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
      const pipeline = await requirePipeline(trx, agent.id, pipelineRef, 'update');
      if (steps !== undefined) {
        const flows = await trx.selectFrom('dm_flows').select(['slug', 'step_config']).where('pipeline_id', '=', pipeline.id).orderBy('slug').execute();
        for (const flow of flows) checkFlowStepConfig(flow.step_config, steps, handlers, flow.slug);
      }
      const row = await trx
        .updateTable('dm_pipelines')
        .set({
          ...(fields.slug === undefined ? {} : { slug: fields.slug }),
          ...(fields.name === undefined ? {} : { name: fields.name }),
          ...(steps === undefined ? {} : { steps: JSON.stringify(steps) }),
          updated_at: context.now(),
        })
        .where('id', '=', pipeline.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toPipeline(row);
    });
  } catch (error) {
    throw mapPipelineWriteError(error, fields.slug ?? pipelineRef);
  }
}

/**
 * Deletes a pipeline (`flow.create`). A pipeline that still has flows is
 * `pipeline.in_use`, listing them: delete the flows first, so their jobs and
 * schedules never vanish as a side effect.
 */
export async function deletePipeline(context: DataMachineContext, scope: Scope, agentRef: string, pipelineRef: string): Promise<void> {
  await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
    const pipeline = await requirePipeline(trx, agent.id, pipelineRef, 'update');
    const flows = await trx.selectFrom('dm_flows').select('slug').where('pipeline_id', '=', pipeline.id).orderBy('slug').execute();
    if (flows.length > 0) {
      throw new DataMachineError('pipeline.in_use', `The pipeline "${pipeline.slug}" has ${flows.length} flow(s); delete them first.`, {
        details: { pipeline: pipeline.slug, flows: flows.map((flow) => flow.slug) },
      });
    }
    await trx.deleteFrom('dm_pipelines').where('id', '=', pipeline.id).execute();
  });
}

/** What {@link insertPipeline} writes: a pipeline before it has an id. */
export type PipelineValues = Omit<Pipeline, 'id' | 'createdAt' | 'updatedAt'>;

/** Inserts a pipeline whose steps were already checked, in the caller's transaction. */
export async function insertPipeline(context: DataMachineContext, trx: TenantTransaction, values: PipelineValues): Promise<Pipeline> {
  const now = context.now();
  const row = await trx
    .insertInto('dm_pipelines')
    .values({
      id: context.newId('pipe'),
      tenant_id: values.tenantId,
      agent_id: values.agentId,
      slug: values.slug,
      name: values.name,
      steps: JSON.stringify(values.steps),
      created_by: values.createdBy,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPipeline(row);
}

/**
 * The agent's pipeline with id or slug `pipelineRef`, or `pipeline.not_found`.
 * A lock holds its row until the transaction ends: a pipeline change takes
 * `update` and checks the flows; a flow write takes `share` and is checked
 * against the steps that stay, so neither validates against a stale other.
 */
export async function requirePipeline(trx: TenantTransaction, agentId: string, pipelineRef: string, lock?: 'update' | 'share'): Promise<PipelineRow> {
  let query = trx
    .selectFrom('dm_pipelines')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where((eb) => eb.or([eb('id', '=', pipelineRef), eb('slug', '=', pipelineRef)]));
  if (lock === 'update') query = query.forUpdate();
  if (lock === 'share') query = query.forShare();
  const row = await query.executeTakeFirst();
  if (!row) throw new DataMachineError('pipeline.not_found', `There is no pipeline "${pipelineRef}".`, { details: { pipeline: pipelineRef } });
  return row;
}

/** A pipeline row as the product shows it; its steps were checked on write. */
export function toPipeline(row: PipelineRow): Pipeline {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    slug: row.slug,
    name: row.name,
    steps: pipelineStepsSchema.parse(row.steps),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** `pipeline.slug_taken` for a unique violation of the agent's pipeline slugs; anything else unchanged. */
export function mapPipelineWriteError(error: unknown, slug: string): unknown {
  if (isUniqueViolation(error, 'dm_pipelines_agent_slug_key')) {
    return new DataMachineError('pipeline.slug_taken', `This agent has a pipeline with the slug "${slug}".`, { details: { slug } });
  }
  return error;
}
