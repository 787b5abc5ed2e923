import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import type { SecretBox } from './secret-box';
import { secretNameSchema } from './secret-name';

/** A secret's value: 1 to 4,096 characters. */
export const secretValueSchema = z.string().min(1).max(4096);

/** A stored secret as any read shows it: its name and times, never its value. */
export interface AgentSecretSummary {
  readonly name: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What binds a sealed value to its row: moved to another agent or name, it does not open. */
function bindingOf(tenantId: string, agentId: string, name: string): string {
  return `${tenantId}/${agentId}/${name}`;
}

/**
 * Sets (creates or replaces) the agent's secret `name` to `value`, sealed
 * with `box` (`agent.edit`). The value is never returned by any read and
 * never logged. Resolves to its summary.
 */
export async function setAgentSecret(context: DataMachineContext, box: SecretBox, scope: Scope, agentRef: string, name: string, value: string): Promise<AgentSecretSummary> {
  const secretName = parseInput(secretNameSchema, name, 'secret name');
  const secretValue = parseInput(secretValueSchema, value, 'secret value');
  return agentOperation(context, scope, 'agent.edit', agentRef, async (trx, agent) => {
    const now = context.now();
    const sealed = box.seal(secretValue, bindingOf(scope.tenantId, agent.id, secretName));
    const row = await trx
      .insertInto('dm_agent_secrets')
      .values({ tenant_id: scope.tenantId, agent_id: agent.id, name: secretName, sealed, created_by: actingUserId(scope.actor), created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.columns(['agent_id', 'name']).doUpdateSet({ sealed, updated_at: now }))
      .returning(['name', 'created_at', 'updated_at'])
      .executeTakeFirstOrThrow();
    return { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
  });
}

/** The agent's secrets by name, without values (`agent.read`). */
export function listAgentSecrets(context: DataMachineContext, scope: Scope, agentRef: string): Promise<AgentSecretSummary[]> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    const rows = await trx.selectFrom('dm_agent_secrets').select(['name', 'created_at', 'updated_at']).where('agent_id', '=', agent.id).orderBy('name').execute();
    return rows.map((row) => ({ name: row.name, createdAt: row.created_at, updatedAt: row.updated_at }));
  });
}

/** Deletes the agent's secret `name` (`agent.edit`); `secret.not_found` when there is none. */
export async function deleteAgentSecret(context: DataMachineContext, scope: Scope, agentRef: string, name: string): Promise<void> {
  const secretName = parseInput(secretNameSchema, name, 'secret name');
  return agentOperation(context, scope, 'agent.edit', agentRef, async (trx, agent) => {
    const deleted = await trx.deleteFrom('dm_agent_secrets').where('agent_id', '=', agent.id).where('name', '=', secretName).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw secretNotFound(secretName);
  });
}

/**
 * The plaintext of the agent's secret `name`, or undefined when it has none
 * (the handler that needs it then fails with `handler.secret_missing`). For
 * the engine handing a handler its credential: authorizes nothing, the job's
 * run was authorized.
 */
export function readAgentSecret(context: DataMachineContext, box: SecretBox, target: AgentSecretTarget): Promise<string | undefined> {
  return inTenant(context, target.tenantId, null, (trx) => openAgentSecret(trx, box, target));
}

/** Which secret of which agent: its tenant, agent and name. */
export interface AgentSecretTarget {
  readonly tenantId: string;
  readonly agentId: string;
  readonly name: string;
}

/** {@link readAgentSecret} in the caller's tenant transaction (the engine reads the flow's choice of secret in the same one). */
export async function openAgentSecret(trx: TenantTransaction, box: SecretBox, target: AgentSecretTarget): Promise<string | undefined> {
  const row = await trx.selectFrom('dm_agent_secrets').select('sealed').where('agent_id', '=', target.agentId).where('name', '=', target.name).executeTakeFirst();
  return row === undefined ? undefined : box.open(row.sealed, bindingOf(target.tenantId, target.agentId, target.name));
}

function secretNotFound(name: string): DataMachineError {
  return new DataMachineError('secret.not_found', `There is no secret "${name}".`, { details: { secret: name } });
}
