import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { DataMachineContext } from '../context';
import type { FlowWebhookTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { actingUserId } from '../access/actor';
import { findAgentFlow } from '../jobs/agent-flow';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { SecretBox } from '../secrets/secret-box';

// Operator-facing: rotating and removing a flow's webhook secret authorize
// `flow.run` (operators and above of the agent: whoever may start the flow
// may hand out the means to start it); reading that one exists, `agent.read`.

/** A flow's inbound webhook as reads show it: never its secret. */
export interface FlowWebhook {
  readonly flowId: string;
  readonly agentId: string;
  readonly createdAt: Date;
  readonly rotatedAt: Date;
}

/** The purpose webhook secrets are sealed for (`createSecretBox(key, webhookSecretsPurpose)`): not the handler secrets' key. */
export const webhookSecretsPurpose = 'webhook-secrets';

/** The prefix of every webhook signing secret, so a leaked one is recognisable. */
export const webhookSecretPrefix = 'whsec_';

/**
 * Creates the flow's inbound webhook secret, or replaces it (the old one
 * stops working at once). The secret is returned here only; it is stored
 * sealed by `secrets` for this flow, never in the clear.
 *
 * @example
 * const { secret } = await rotateFlowWebhookSecret(context, createSecretBox(key, webhookSecretsPurpose), scope, 'bot', 'inbox');
 */
export function rotateFlowWebhookSecret(
  context: DataMachineContext,
  secrets: SecretBox,
  scope: Scope,
  agentRef: string,
  flowRef: string,
): Promise<{ readonly webhook: FlowWebhook; readonly secret: string }> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const secret = `${webhookSecretPrefix}${randomBytes(32).toString('base64url')}`;
    const now = context.now();
    const sealed = secrets.seal(secret, flow.id);
    const row = await trx
      .insertInto('dm_flow_webhooks')
      .values({ flow_id: flow.id, tenant_id: flow.tenant_id, agent_id: flow.agent_id, sealed_secret: sealed, created_by: actingUserId(scope.actor), created_at: now, rotated_at: now })
      .onConflict((conflict) => conflict.column('flow_id').doUpdateSet({ sealed_secret: sealed, rotated_at: now }))
      .returningAll()
      .executeTakeFirstOrThrow();
    return { webhook: toFlowWebhook(row), secret };
  });
}

/** The flow's inbound webhook (`agent.read`); `webhook.not_found` when it has none. */
export function getFlowWebhook(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<FlowWebhook> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const row = await trx.selectFrom('dm_flow_webhooks').selectAll().where('flow_id', '=', flow.id).executeTakeFirst();
    if (!row) throw webhookNotFound(flowRef);
    return toFlowWebhook(row);
  });
}

/** Removes the flow's inbound webhook (`flow.run`): deliveries are refused from now on. `webhook.not_found` when it has none. */
export function deleteFlowWebhook(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<void> {
  return agentOperation(context, scope, 'flow.run', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const deleted = await trx.deleteFrom('dm_flow_webhooks').where('flow_id', '=', flow.id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw webhookNotFound(flowRef);
  });
}

function webhookNotFound(flowRef: string): DataMachineError {
  return new DataMachineError('webhook.not_found', `The flow "${flowRef}" has no inbound webhook.`, { details: { flow: flowRef } });
}

function toFlowWebhook(row: Selectable<FlowWebhookTable>): FlowWebhook {
  return { flowId: row.flow_id, agentId: row.agent_id, createdAt: row.created_at, rotatedAt: row.rotated_at };
}
