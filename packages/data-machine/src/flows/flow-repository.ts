import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { isUniqueViolation } from '../database/database-errors';
import { DataMachineError } from '../errors';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { nameSchema, parseInput, slugSchema } from '../input';
import { findAgentFlow, type FlowRow } from '../jobs/agent-flow';
import { requirePipeline, toPipeline } from '../pipelines/pipeline-repository';
import { checkSchedule, firstRunAt, tickAfter } from '../schedules/next-run';
import { manualSchedule, scheduleSchema, type Schedule } from '../schedules/schedule';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { checkFlowStepConfig, flowStepConfigsSchema, type FlowStepConfigs } from './flow-step-config';

/** The most items a flow may take per run, and the most jobs it may run at once. */
export const flowLimits = { maxItems: 1000, concurrency: 100 } as const;

/** A pipeline's configured, scheduled instance. Its agent is its pipeline's. */
export interface Flow {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly pipelineId: string;
  readonly slug: string;
  readonly name: string;
  /** Per step key: the handler configuration (over the step's default) and queue modes. */
  readonly stepConfig: FlowStepConfigs;
  readonly schedule: Schedule;
  readonly paused: boolean;
  /** The most items one run takes, after de-duplication. */
  readonly maxItems: number;
  /** The most jobs of this flow running at once. */
  readonly concurrency: number;
  /** When the scheduler next starts it; null until the scheduler computes it, and for manual flows. */
  readonly nextRunAt: Date | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const flowSettings = {
  schedule: scheduleSchema,
  paused: z.boolean(),
  maxItems: z.int().min(1).max(flowLimits.maxItems),
  concurrency: z.int().min(1).max(flowLimits.concurrency),
};

/**
 * What {@link createFlow} takes. `pipeline` is the pipeline's id or slug;
 * `stepConfig` is checked against it (`flow.invalid_config`).
 */
export const newFlowSchema = z.strictObject({
  pipeline: z.string().min(1),
  slug: slugSchema,
  name: nameSchema,
  stepConfig: z.unknown().optional(),
  schedule: flowSettings.schedule.default(manualSchedule),
  paused: flowSettings.paused.default(false),
  maxItems: flowSettings.maxItems.default(1),
  concurrency: flowSettings.concurrency.default(1),
});
export type NewFlow = Omit<z.input<typeof newFlowSchema>, 'stepConfig'> & { readonly stepConfig?: FlowStepConfigs };

/** What {@link updateFlow} takes: the fields to change. `stepConfig` replaces the whole configuration. */
export const flowPatchSchema = z.strictObject({
  slug: slugSchema.optional(),
  name: nameSchema.optional(),
  stepConfig: z.unknown().optional(),
  schedule: flowSettings.schedule.optional(),
  maxItems: flowSettings.maxItems.optional(),
  concurrency: flowSettings.concurrency.optional(),
});
export type FlowPatch = Omit<z.input<typeof flowPatchSchema>, 'stepConfig'> & { readonly stepConfig?: FlowStepConfigs };

/**
 * Creates a flow of a pipeline of the agent `agentRef` (`flow.create`). Each
 * handler step's configuration is validated by its handler's schema; a bad one
 * is `flow.invalid_config` naming the field (`steps.store.handlerConfig.collection`).
 * A slug the agent already uses is `flow.slug_taken`. Nothing is written on any refusal.
 */
export async function createFlow(context: DataMachineContext, scope: Scope, handlers: HandlerRegistry, agentRef: string, input: NewFlow): Promise<Flow> {
  const fields = parseInput(newFlowSchema, input, 'flow');
  try {
    return await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
      const pipeline = toPipeline(await requirePipeline(trx, agent.id, fields.pipeline, 'share'));
      const stepConfig = checkFlowStepConfig(fields.stepConfig, pipeline.steps, handlers, fields.slug);
      return insertFlow(context, trx, { ...fields, stepConfig, tenantId: scope.tenantId, agentId: agent.id, pipelineId: pipeline.id, createdBy: actingUserId(scope.actor) });
    });
  } catch (error) {
    throw mapFlowWriteError(error, fields.slug);
  }
}

/** The flow with id or slug `flowRef` of the agent (`agent.read`). */
export function getFlow(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<Flow> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => toFlow(await findAgentFlow(trx, agent.id, flowRef)));
}

/** The agent's flows by slug, only those of one pipeline (id or slug) when given (`agent.read`). */
export function listFlows(context: DataMachineContext, scope: Scope, agentRef: string, options: { readonly pipeline?: string } = {}): Promise<readonly Flow[]> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    let query = trx.selectFrom('dm_flows').selectAll().where('agent_id', '=', agent.id).orderBy('slug');
    if (options.pipeline !== undefined) query = query.where('pipeline_id', '=', (await requirePipeline(trx, agent.id, options.pipeline)).id);
    return (await query.execute()).map(toFlow);
  });
}

/**
 * Changes a flow (`flow.create`); its pipeline never changes. A new
 * `stepConfig` replaces the old and is validated like on create.
 */
export async function updateFlow(context: DataMachineContext, scope: Scope, handlers: HandlerRegistry, agentRef: string, flowRef: string, patch: FlowPatch): Promise<Flow> {
  const fields = parseInput(flowPatchSchema, patch, 'flow change');
  if (fields.schedule !== undefined) checkSchedule(fields.schedule);
  try {
    return await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
      const flow = await findAgentFlow(trx, agent.id, flowRef);
      let stepConfig: FlowStepConfigs | undefined;
      if (fields.stepConfig !== undefined) {
        const pipeline = toPipeline(await requirePipeline(trx, agent.id, flow.pipeline_id, 'share'));
        stepConfig = checkFlowStepConfig(fields.stepConfig, pipeline.steps, handlers, fields.slug ?? flow.slug);
      }
      const row = await trx
        .updateTable('dm_flows')
        .set({
          ...(fields.slug === undefined ? {} : { slug: fields.slug }),
          ...(fields.name === undefined ? {} : { name: fields.name }),
          ...(stepConfig === undefined ? {} : { step_config: JSON.stringify(stepConfig) }),
          ...(fields.schedule === undefined
            ? {}
            : { schedule: JSON.stringify(fields.schedule), next_run_at: flow.paused ? null : firstRunAt(fields.schedule, flow.id, context.now()), schedule_claimed_until: null }),
          ...(fields.maxItems === undefined ? {} : { max_items: fields.maxItems }),
          ...(fields.concurrency === undefined ? {} : { concurrency: fields.concurrency }),
          updated_at: context.now(),
        })
        .where('id', '=', flow.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return toFlow(row);
    });
  } catch (error) {
    throw mapFlowWriteError(error, fields.slug ?? flowRef);
  }
}

/** Deletes a flow, with its queues and jobs (`flow.create`). */
export async function deleteFlow(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<void> {
  await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    await trx.deleteFrom('dm_flows').where('id', '=', flow.id).execute();
  });
}

/** Pauses a flow (`flow.run`): the scheduler starts no run of it until it is resumed. Pausing a paused flow changes nothing. */
export function pauseFlow(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<Flow> {
  return setPaused(context, scope, agentRef, flowRef, true);
}

/** Resumes a paused flow (`flow.run`). Missed ticks are the scheduler's to handle (at most one catch-up run). */
export function resumeFlow(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<Flow> {
  return setPaused(context, scope, agentRef, flowRef, false);
}

function setPaused(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string, paused: boolean): Promise<Flow> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    if (flow.paused === paused) return toFlow(flow);
    // Paused: no next run. Resumed: the next tick from now, so missed ticks are not replayed.
    const nextRunAt = paused ? null : tickAfter(scheduleSchema.parse(flow.schedule), flow.id, context.now());
    const row = await trx
      .updateTable('dm_flows')
      .set({ paused, next_run_at: nextRunAt, schedule_claimed_until: null, updated_at: context.now() })
      .where('id', '=', flow.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toFlow(row);
  });
}

/** What {@link insertFlow} writes: settings already parsed, step configuration already checked. */
export type FlowValues = Omit<Flow, 'id' | 'nextRunAt' | 'createdAt' | 'updatedAt'>;

/** Inserts a checked flow in the caller's transaction, with its first run (none while paused); a cron schedule that cannot be read is `flow.invalid_config`. */
export async function insertFlow(context: DataMachineContext, trx: TenantTransaction, values: FlowValues): Promise<Flow> {
  const now = context.now();
  const id = context.newId('flow');
  checkSchedule(values.schedule);
  const nextRunAt = values.paused ? null : firstRunAt(values.schedule, id, now);
  const row = await trx
    .insertInto('dm_flows')
    .values({
      id,
      tenant_id: values.tenantId,
      agent_id: values.agentId,
      pipeline_id: values.pipelineId,
      slug: values.slug,
      name: values.name,
      step_config: JSON.stringify(values.stepConfig),
      schedule: JSON.stringify(values.schedule),
      paused: values.paused,
      max_items: values.maxItems,
      concurrency: values.concurrency,
      next_run_at: nextRunAt,
      created_by: values.createdBy,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toFlow(row);
}

/** A flow row as the product shows it; its JSON columns were checked on write. */
export function toFlow(row: FlowRow): Flow {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    pipelineId: row.pipeline_id,
    slug: row.slug,
    name: row.name,
    stepConfig: flowStepConfigsSchema.parse(row.step_config),
    schedule: scheduleSchema.parse(row.schedule),
    paused: row.paused,
    maxItems: row.max_items,
    concurrency: row.concurrency,
    nextRunAt: row.next_run_at,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** `flow.slug_taken` for a unique violation of the agent's flow slugs; anything else unchanged. */
export function mapFlowWriteError(error: unknown, slug: string): unknown {
  if (isUniqueViolation(error, 'dm_flows_agent_slug_key')) {
    return new DataMachineError('flow.slug_taken', `This agent has a flow with the slug "${slug}".`, { details: { slug } });
  }
  return error;
}
