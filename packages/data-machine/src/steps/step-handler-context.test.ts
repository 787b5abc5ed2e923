import { describe, expect, it } from 'vitest';
import { jsonItemsHandler } from '../handlers/json-items-handler';
import { createHandlerNetwork } from '../handlers/http/handler-network';
import type { StepContext } from './step';
import { stepHandlerContext } from './step-handler-context';

/** A step context of a job in tenant `tenant_1`, with the tenant's allowance as given (absent: not said). */
function stepOf(allowPrivateAddresses?: boolean): StepContext {
  return {
    tenantId: 'tenant_1',
    agentId: 'agent_1',
    pipelineId: 'pipeline_1',
    flowId: 'flow_1',
    jobId: 'job_1',
    step: { key: 'fetch', type: 'fetch', handler: 'json_items', config: {} },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    engineData: { outputs: {} },
    effects: { find: async () => undefined, record: async () => undefined },
    signal: new AbortController().signal,
    ...(allowPrivateAddresses === undefined ? {} : { allowPrivateAddresses }),
  };
}

describe('step handler context', () => {
  // The fetch and publish steps and the ai step's publish tools all build the handler's context here.
  it("hands the handler its job's tenant's client: the open one only where the tenant allows private addresses", async () => {
    const network = createHandlerNetwork();
    const call = (step: StepContext) => stepHandlerContext(step, { stepKey: 'fetch', handler: jsonItemsHandler, signal: step.signal, http: network });
    try {
      expect((await call(stepOf(true))).http).toBe(network.clientFor(true));
      expect((await call(stepOf(false))).http).toBe(network.clientFor(false));
      expect((await call(stepOf())).http).toBe(network.clientFor(false));
      expect(network.clientFor(true)).not.toBe(network.clientFor(false));
    } finally {
      await network.close();
    }
  });
});
