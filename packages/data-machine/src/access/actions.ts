import type { AgentRole, TenantCapability } from './roles';

/** What an action needs. Every field that is set must hold. */
export interface ActionRule {
  /** What it is, for docs and deny reasons. */
  readonly description: string;
  /** The least role on the agent; absent for actions on the tenant itself. */
  readonly agentRole?: AgentRole;
  /** A capability the acting user's tenant role must have. */
  readonly capability?: TenantCapability;
  /** The capability an agent token's ceiling must list to do this; absent: no token may. */
  readonly tokenCapability?: TenantCapability;
}

/**
 * Every action the product authorizes, and what each needs: the one table of
 * rules. Agent-level actions need a role on the agent (tenant owners and
 * admins are `admin` on every agent, an agent's owner is its `admin`); the
 * capability column is the tenant role's; a token needs its ceiling to list
 * `tokenCapability`, on top of its owner's rights.
 */
export const actionRules = {
  'agent.read': { description: 'see an agent and its configuration', agentRole: 'viewer', tokenCapability: 'chat' },
  'agent.create': { description: 'create an agent for oneself', capability: 'create_own_agent' },
  'agent.create_any': { description: 'create agents without limit, for any owner', capability: 'manage_agents' },
  'agent.edit': { description: "change an agent's name, instructions, model, tools and memory", agentRole: 'admin', tokenCapability: 'manage_agents' },
  'agent.delete': { description: 'delete an agent', agentRole: 'admin', tokenCapability: 'manage_agents' },
  'agent.grant': { description: 'grant, change or revoke roles on an agent', agentRole: 'admin' },
  'token.create': { description: 'create or revoke agent tokens', agentRole: 'admin' },
  'flow.create': { description: 'create, edit and delete pipelines and flows', agentRole: 'admin', tokenCapability: 'manage_flows' },
  'flow.run': { description: 'run a flow now, pause or resume it', agentRole: 'operator', tokenCapability: 'manage_flows' },
  'queue.add': { description: "add to, reorder or clear a flow's queues", agentRole: 'operator', tokenCapability: 'manage_flows' },
  'approval.read': { description: 'list and read pending actions', agentRole: 'viewer', tokenCapability: 'view_logs' },
  'job.undo': { description: "undo a job's published effects", agentRole: 'operator', tokenCapability: 'manage_flows' },
  'approval.resolve': { description: 'accept or reject a pending action', agentRole: 'operator', tokenCapability: 'manage_flows' },
  'logs.read': { description: 'read jobs and logs', agentRole: 'operator', capability: 'view_logs', tokenCapability: 'view_logs' },
  'chat': { description: 'chat with an agent', agentRole: 'viewer', capability: 'chat', tokenCapability: 'chat' },
  'tools.use': { description: "let the agent's runs use its tools", agentRole: 'viewer', capability: 'use_tools', tokenCapability: 'use_tools' },
  'transcripts.read': { description: "read every user's chat sessions with an agent", agentRole: 'admin', tokenCapability: 'view_logs' },
  'tenant.manage': { description: "change a tenant's settings and members", capability: 'manage_settings' },
} as const satisfies Record<string, ActionRule>;

/** An action the product authorizes. */
export type Action = keyof typeof actionRules;
export const actions = Object.keys(actionRules) as Action[];
