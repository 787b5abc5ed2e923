import type { DataMachineContext } from '../context';
import type { Handler } from '../handlers/handler';
import { inTenant } from '../scope/tenant-transaction';
import { openAgentSecret } from './agent-secrets';
import type { SecretBox } from './secret-box';

/** The purpose handler secrets are sealed for (`createSecretBox(key, handlerSecretsPurpose)`): one key, one use. */
export const handlerSecretsPurpose = 'handler-secrets';

/** Where a handler step finds the credential its handler needs. */
export interface HandlerSecrets {
  /**
   * The secret handed to `handler` in the step `stepKey` of `flowId`: the
   * agent's secret the flow step names (`secret`), else the one named like
   * the handler's `secretName`; undefined when the handler needs none or the
   * agent has none by that name.
   */
  forStep(target: { readonly tenantId: string; readonly agentId: string; readonly flowId: string; readonly stepKey: string; readonly handler: Handler }): Promise<string | undefined>;
}

/**
 * Handler secrets from the agent's stored secrets (`dm_agent_secrets`),
 * opened with `box`. See docs/decisions/2026-12-01-handler-secrets.md.
 */
export function createHandlerSecrets(context: DataMachineContext, box: SecretBox): HandlerSecrets {
  return {
    async forStep({ tenantId, agentId, flowId, stepKey, handler }) {
      if (handler.secretName === undefined) return undefined;
      const secretName = handler.secretName;
      // One transaction: the flow step's choice of secret, then the secret.
      return inTenant(context, tenantId, null, async (trx) => {
        const flow = await trx.selectFrom('dm_flows').select('step_config').where('id', '=', flowId).executeTakeFirst();
        const named = (flow?.step_config as Record<string, { secret?: unknown }> | undefined)?.[stepKey]?.secret;
        return openAgentSecret(trx, box, { tenantId, agentId, name: typeof named === 'string' ? named : secretName });
      });
    },
  };
}
