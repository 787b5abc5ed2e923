import type { Handler, HandlerContext } from '../handlers/handler';
import { httpForTenant, type HandlerHttp } from '../handlers/http/handler-network';
import type { HandlerSecrets } from '../secrets/handler-secrets';
import type { StepContext } from './step';

/** What a step call of a handler adds to the step's own context. */
export interface StepHandlerCall {
  /** The step whose handler is called (a publish tool calls a later step's handler). */
  readonly stepKey: string;
  readonly handler: Handler;
  readonly signal: AbortSignal;
  /** The host's network; the handler gets the client of the job's tenant (see {@link StepContext.allowPrivateAddresses}). */
  readonly http?: HandlerHttp | undefined;
  readonly secrets?: HandlerSecrets | undefined;
}

/**
 * The context a step hands a handler: the job's ids, the step's logger, the
 * call's signal and HTTP client, and the secret the step's configuration
 * names for the handler (resolved now, never stored). The HTTP client is the
 * one the tenant's allowance picks, read with the job, so choosing it costs
 * no query. The one place the publish and fetch steps and the `ai` step's
 * publish tools build it.
 */
export async function stepHandlerContext(step: StepContext, call: StepHandlerCall): Promise<HandlerContext> {
  const target = { tenantId: step.tenantId, agentId: step.agentId, flowId: step.flowId, stepKey: call.stepKey };
  const secret = await call.secrets?.forStep({ ...target, handler: call.handler });
  return {
    ...target,
    jobId: step.jobId,
    logger: step.logger,
    signal: call.signal,
    ...(call.http === undefined ? {} : { http: httpForTenant(call.http, step.allowPrivateAddresses === true) }),
    ...(secret === undefined ? {} : { secret }),
  };
}
