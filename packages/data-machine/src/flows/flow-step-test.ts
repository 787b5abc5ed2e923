import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import type { ConnectionTest } from '../handlers/handler';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { httpForTenant, type HandlerHttp } from '../handlers/http/handler-network';
import { findAgentFlow } from '../jobs/agent-flow';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { HandlerSecrets } from '../secrets/handler-secrets';
import { pipelineStepsSchema } from '../steps/step';
import { effectiveHandlerConfig, flowStepConfigsSchema } from './flow-step-config';

/** What {@link testFlowStep} runs with: the host's handlers, the network they reach out through (the tenant's client), and their secrets. */
export interface FlowStepTestOptions {
  readonly handlers: HandlerRegistry;
  readonly http?: HandlerHttp;
  readonly secrets?: HandlerSecrets;
  readonly signal?: AbortSignal;
}

/** What a connection test found: whether the handler has a test, and its outcome (an expected failure is `ok: false` with a message). */
export type FlowStepTestResult = { readonly handler: string; readonly supported: false } | ({ readonly handler: string; readonly supported: true } & ConnectionTest);

/**
 * Tests the connection of a flow's handler step (`flow.run`): the handler's
 * `testConnection` with the step's effective configuration and its secret,
 * as a run would call it, with no side effect. A step without a handler, or
 * not in the flow's pipeline, is `flow.unknown_step`.
 *
 * @example
 * const result = await testFlowStep(context, scope, 'writer', 'daily', 'publish', { handlers, http, secrets });
 */
export async function testFlowStep(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string, stepKey: string, options: FlowStepTestOptions): Promise<FlowStepTestResult> {
  const target = await agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const pipeline = await trx.selectFrom('dm_pipelines').select('steps').where('id', '=', flow.pipeline_id).executeTakeFirstOrThrow();
    const step = pipelineStepsSchema.parse(pipeline.steps).find((candidate) => candidate.key === stepKey);
    if (step === undefined || !('handler' in step)) {
      throw new DataMachineError('flow.unknown_step', `The flow has no handler step "${stepKey}".`, { details: { flow: flow.slug, step: stepKey } });
    }
    // The tenant's allowance, read here so the test reaches exactly what a run of the flow would.
    const tenant = await trx.selectFrom('dm_tenants').select('allow_private_addresses').where('id', '=', scope.tenantId).executeTakeFirstOrThrow();
    return { agentId: agent.id, flowId: flow.id, step, stepConfig: flowStepConfigsSchema.parse(flow.step_config ?? {})[stepKey], allowPrivateAddresses: tenant.allow_private_addresses };
  });
  const handler = options.handlers.get(target.step.handler);
  if (handler.testConnection === undefined) return { handler: handler.slug, supported: false };
  const config = effectiveHandlerConfig(target.step, target.stepConfig, options.handlers);
  const ids = { tenantId: scope.tenantId, agentId: target.agentId, flowId: target.flowId, stepKey };
  const secret = await options.secrets?.forStep({ ...ids, handler });
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const outcome = await handler.testConnection(config, {
    ...ids,
    jobId: 'connection-test',
    logger: quiet,
    signal: options.signal ?? new AbortController().signal,
    ...(options.http === undefined ? {} : { http: httpForTenant(options.http, target.allowPrivateAddresses) }),
    ...(secret === undefined ? {} : { secret }),
  });
  return { handler: handler.slug, supported: true, ...outcome };
}
