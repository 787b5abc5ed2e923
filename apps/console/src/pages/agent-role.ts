import { useQuery } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';

/** The caller's role on an agent, as the agents list gives it. */
export type AgentRole = 'viewer' | 'operator' | 'admin';

const rank: Readonly<Record<AgentRole, number>> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` is at least `needed`; an unknown role (agent not listed) allows nothing. */
export function roleAllows(role: AgentRole | undefined, needed: AgentRole): boolean {
  return role !== undefined && rank[role] >= rank[needed];
}

/** Why an action is refused to `role`, in plain words, or undefined when it is allowed. */
export function roleRefusal(role: AgentRole | undefined, needed: AgentRole): string | undefined {
  if (roleAllows(role, needed)) return undefined;
  return role === undefined ? `Only an ${needed} of this agent or above may do this.` : `Your role on this agent is ${role}; only an ${needed} or above may do this.`;
}

/**
 * The caller's agents with their role on each, shared with the agents page
 * (same query key). The server still checks every action; this only decides
 * which buttons are offered.
 */
export function useAgentRoles(client: ApiClient) {
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => unwrap(client.GET('/agents')) });
  const bySlug = new Map<string, AgentRole>();
  const byId = new Map<string, { slug: string; name: string; role: AgentRole }>();
  for (const agent of agents.data?.agents ?? []) {
    bySlug.set(agent.slug, agent.role);
    byId.set(agent.id, { slug: agent.slug, name: agent.name, role: agent.role });
  }
  return { bySlug, byId, error: agents.error, isPending: agents.isPending };
}

/**
 * Why the caller may not do what needs `needed` on `agent`, or undefined
 * when they may. While the roles load nothing is offered, and the refusal
 * says so.
 */
export function useRoleRefusal(client: ApiClient, agent: string, needed: AgentRole): string | undefined {
  const roles = useAgentRoles(client);
  return roles.isPending ? 'Checking your role on this agent…' : roleRefusal(roles.bySlug.get(agent), needed);
}
