import { z } from 'zod';
import { actingUserId } from '../access/actor';
import { agentRoleSchema, type AgentRole } from '../access/roles';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import { emailSchema } from '../users/user-repository';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';

/** A user's role on one agent. */
export interface AgentGrant {
  readonly agentId: string;
  readonly userId: string;
  readonly role: AgentRole;
  readonly createdBy: string | null;
  readonly createdAt: Date;
}

/** What {@link grantAgentRole} takes: the member by user id or by email (anything with an "@"). */
export const newGrantSchema = z.object({ userId: z.string().min(1), role: agentRoleSchema }).strict();

/**
 * Gives a member of the tenant a role on the agent, or changes it
 * (`agent.grant`). `userId` may be the member's email instead of their id.
 * The user must be a member (`membership.not_found`, also for an email no
 * user has, so the answer does not tell who has an account); the agent's
 * owner stays `admin` whatever a grant says.
 */
export async function grantAgentRole(context: DataMachineContext, scope: Scope, agentRef: string, input: z.input<typeof newGrantSchema>): Promise<AgentGrant> {
  const fields = parseInput(newGrantSchema, input, 'grant');
  const email = fields.userId.includes('@') ? parseInput(emailSchema, fields.userId, 'email') : undefined;
  return agentOperation(context, scope, 'agent.grant', agentRef, async (trx, agent) => {
    let members = trx.selectFrom('dm_memberships').select('dm_memberships.user_id').where('dm_memberships.tenant_id', '=', scope.tenantId);
    members =
      email === undefined
        ? members.where('dm_memberships.user_id', '=', fields.userId)
        : members.innerJoin('dm_users', 'dm_users.id', 'dm_memberships.user_id').where('dm_users.email', '=', email);
    const member = await members.executeTakeFirst();
    if (!member) {
      throw new DataMachineError('membership.not_found', `${email === undefined ? `User "${fields.userId}"` : `Nobody with the email "${email}"`} is not a member of this tenant.`, {
        details: { userId: fields.userId },
      });
    }
    const row = await trx
      .insertInto('dm_agent_grants')
      .values({ tenant_id: scope.tenantId, agent_id: agent.id, user_id: member.user_id, role: fields.role, created_by: actingUserId(scope.actor), created_at: context.now() })
      .onConflict((conflict) => conflict.columns(['agent_id', 'user_id']).doUpdateSet({ role: fields.role }))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toGrant(row);
  });
}

/** Removes a user's grant on the agent (`agent.grant`); `grant.not_found` when there is none. */
export async function revokeAgentRole(context: DataMachineContext, scope: Scope, agentRef: string, userId: string): Promise<void> {
  await agentOperation(context, scope, 'agent.grant', agentRef, async (trx, agent) => {
    const removed = await trx.deleteFrom('dm_agent_grants').where('agent_id', '=', agent.id).where('user_id', '=', userId).executeTakeFirst();
    if (removed.numDeletedRows === 0n) {
      throw new DataMachineError('grant.not_found', `User "${userId}" has no grant on this agent.`, { details: { userId } });
    }
  });
}

/** The grants on an agent (`agent.grant`: only those who manage them see who else has access). */
export async function listAgentGrants(context: DataMachineContext, scope: Scope, agentRef: string): Promise<readonly AgentGrant[]> {
  return agentOperation(context, scope, 'agent.grant', agentRef, async (trx, agent) => {
    const rows = await trx.selectFrom('dm_agent_grants').selectAll().where('agent_id', '=', agent.id).orderBy('created_at').orderBy('user_id').execute();
    return rows.map(toGrant);
  });
}

function toGrant(row: { agent_id: string; user_id: string; role: string; created_by: string | null; created_at: Date }): AgentGrant {
  return { agentId: row.agent_id, userId: row.user_id, role: row.role as AgentRole, createdBy: row.created_by, createdAt: row.created_at };
}
