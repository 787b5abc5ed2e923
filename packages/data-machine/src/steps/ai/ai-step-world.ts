import { createPrincipal, type Principal } from '@data-machine/agents-api';
import type { z } from 'zod';
import type { Actor } from '../../access/actor';
import { roleCapabilities, type TenantCapability } from '../../access/roles';
import { getAgent, type Agent } from '../../agents/agent-repository';
import type { DataMachineContext } from '../../context';
import { DataMachineError } from '../../errors';
import { flowStepConfigsSchema, type FlowStepConfigs } from '../../flows/flow-step-config';
import { flowNotFound } from '../../jobs/agent-flow';
import { authorize, resolveScope } from '../../scope/scope';
import { inTenant } from '../../scope/tenant-transaction';
import { pipelineStepsSchema, type PipelineStep, type StepContext } from '../step';

/** What an `ai` step runs with, read fresh for each execution: the agent, the pipeline around the step, and who acts. */
export interface AiStepWorld {
  readonly agent: Agent;
  readonly steps: readonly PipelineStep[];
  readonly stepConfigs: FlowStepConfigs;
  /** The capabilities the acting user's tenant role grants: the principal's ceiling and the run's grants. */
  readonly granted: readonly TenantCapability[];
  readonly principal: Principal;
}

/**
 * Loads what the step needs and decides who acts. The run acts as the agent's
 * runtime with the rights of the user who started the job (else the user who
 * made the flow), re-checked now: that user must still be allowed `flow.run`
 * on the agent. A job nobody started and a flow nobody made have no one to act
 * for: `access.denied` (reason `no_acting_user`), never the system.
 */
export async function loadAiStepWorld(context: DataMachineContext, step: StepContext): Promise<AiStepWorld> {
  const rows = await readEngineRows(context, step);
  const userId = rows.jobCreatedBy ?? rows.flowCreatedBy;
  if (userId === null) {
    context.logger.warn({ event: 'access.denied', action: 'flow.run', reason: 'no_acting_user', tenantId: step.tenantId, jobId: step.jobId }, 'denied flow.run: no user to act for');
    throw new DataMachineError('access.denied', 'Not permitted: neither the job nor its flow names a user to act for.', { details: { action: 'flow.run', reason: 'no_acting_user' } });
  }
  const actor: Actor = { kind: 'schedule', userId, agentId: step.agentId, channel: 'worker' };
  const scope = await resolveScope(context, actor, step.tenantId);
  authorize(context, scope, 'flow.run', step.agentId);
  const agent = await getAgent(context, scope, step.agentId);
  // flow.run passed, so the user is a member: membership is set.
  const granted = scope.facts.membership === null ? [] : roleCapabilities[scope.facts.membership];
  const principal = createPrincipal({
    userId,
    tenantId: step.tenantId,
    agentSlug: agent.slug,
    authSource: 'runtime',
    requestContext: 'schedule',
    ceiling: { allowed: [...granted], denied: [] },
  });
  return { agent, steps: rows.steps, stepConfigs: rows.stepConfigs, granted, principal };
}

interface EngineRows {
  readonly jobCreatedBy: string | null;
  readonly flowCreatedBy: string | null;
  readonly steps: readonly PipelineStep[];
  readonly stepConfigs: FlowStepConfigs;
}

/** The job, flow and pipeline rows, read as the engine reads them (in the tenant, as no user). */
function readEngineRows(context: DataMachineContext, step: StepContext): Promise<EngineRows> {
  return inTenant(context, step.tenantId, null, async (trx) => {
    const job = await trx.selectFrom('dm_jobs').select('created_by').where('id', '=', step.jobId).where('flow_id', '=', step.flowId).executeTakeFirst();
    if (!job) throw new DataMachineError('job.not_found', `There is no job "${step.jobId}".`, { details: { job: step.jobId } });
    const flow = await trx.selectFrom('dm_flows').select(['step_config', 'created_by']).where('id', '=', step.flowId).where('agent_id', '=', step.agentId).executeTakeFirst();
    if (!flow) throw flowNotFound(step.flowId);
    const pipeline = await trx.selectFrom('dm_pipelines').select('steps').where('id', '=', step.pipelineId).where('agent_id', '=', step.agentId).executeTakeFirst();
    if (!pipeline) throw new DataMachineError('pipeline.not_found', `There is no pipeline "${step.pipelineId}".`, { details: { pipeline: step.pipelineId } });
    return {
      jobCreatedBy: job.created_by,
      flowCreatedBy: flow.created_by,
      // Both were validated on write; parsing again applies defaults and keeps a bad row a typed error.
      steps: parseStored(pipelineStepsSchema, pipeline.steps, 'pipeline steps'),
      stepConfigs: parseStored(flowStepConfigsSchema, flow.step_config, 'flow step configuration'),
    };
  });
}

function parseStored<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new DataMachineError('ai.invalid_input', `The stored ${what} do not pass validation.`, { details: { what } });
}
