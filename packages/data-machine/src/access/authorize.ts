import { actionRules, type Action, type ActionRule } from './actions';
import type { AccessFacts, Actor } from './actor';
import { agentRoleAtLeast, roleHas, type AgentRole } from './roles';

/** What an action is done to: a tenant, and an agent for agent-level actions. */
export interface AccessTarget {
  readonly tenantId: string;
  readonly agentId?: string;
}

/** Why an action was refused; stable, logged and tested. */
export const denyReasons = [
  'other_tenant',
  'not_member',
  'agent_invisible',
  'agent_role_too_low',
  'missing_capability',
  'token_expired',
  'token_revoked',
  'token_other_agent',
  'token_ceiling',
  'token_not_allowed',
  'schedule_other_agent',
  'agent_required',
] as const;
export type DenyReason = (typeof denyReasons)[number];

/**
 * A decision. `visible: false` means the actor may not even know the agent
 * exists: hosts answer exactly as for a missing agent.
 */
export type Decision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: DenyReason; readonly visible: boolean; readonly message: string };

const allow: Decision = Object.freeze({ allowed: true });

/**
 * The one authorization decision: `(actor, action, target) -> allow | deny(reason)`,
 * a pure function of the actor, the facts loaded for this request, and the
 * clock. It combines the tenant role's capabilities, the role on the agent,
 * a token's ceiling (which only narrows its owner's rights) and expiry, and
 * where scheduled work may act. `system` is allowed everything, and is only
 * ever chosen explicitly.
 */
export function decide(actor: Actor, facts: AccessFacts, action: Action, target: AccessTarget, now: Date): Decision {
  if (actor.kind === 'system') return allow;
  const rule: ActionRule = actionRules[action];
  if (target.tenantId !== facts.tenantId) return deny('other_tenant', false, 'The facts are of another tenant.');
  const tokenDenial = actor.kind === 'token' ? checkToken(actor, rule, action, target, now) : undefined;
  if (tokenDenial) return tokenDenial;
  if (actor.kind === 'schedule' && target.agentId !== undefined && target.agentId !== actor.agentId) {
    return deny('schedule_other_agent', false, 'Scheduled work acts only for its own agent.');
  }
  if (facts.membership === null) return deny('not_member', false, 'The acting user is not a member of this tenant.');
  if (rule.agentRole !== undefined) {
    if (target.agentId === undefined) return deny('agent_required', true, `"${action}" needs an agent.`);
    const held = strongest(facts.agentRoles.get(target.agentId), facts.tenantWideRole);
    if (held === undefined) return deny('agent_invisible', false, 'The acting user has no role on this agent.');
    if (!agentRoleAtLeast(held, rule.agentRole)) {
      return deny('agent_role_too_low', true, `"${action}" needs the ${rule.agentRole} role on the agent; the acting user is ${held}.`);
    }
  }
  if (rule.capability !== undefined && !roleHas(facts.membership, rule.capability)) {
    return deny('missing_capability', true, `"${action}" needs the ${rule.capability} capability, which the ${facts.membership} role lacks.`);
  }
  return allow;
}

/** A token is its owner narrowed: it must be live, for this agent, and its ceiling must list what the action uses. */
function checkToken(actor: Extract<Actor, { kind: 'token' }>, rule: ActionRule, action: Action, target: AccessTarget, now: Date): Decision | undefined {
  if (actor.revokedAt !== null && actor.revokedAt.getTime() <= now.getTime()) return deny('token_revoked', true, 'The token was revoked.');
  if (actor.expiresAt !== null && actor.expiresAt.getTime() <= now.getTime()) return deny('token_expired', true, 'The token has expired.');
  if (rule.tokenCapability === undefined) return deny('token_not_allowed', true, `"${action}" cannot be done with an agent token.`);
  if (target.agentId !== undefined && target.agentId !== actor.agentId) return deny('token_other_agent', false, 'The token acts for another agent.');
  if (!actor.ceiling.includes(rule.tokenCapability)) {
    return deny('token_ceiling', true, `The token's ceiling does not include ${rule.tokenCapability}.`);
  }
  return undefined;
}

/**
 * The stronger of two roles. Callers pass only agents of the facts' tenant
 * (repositories load the agent inside the tenant first), which is what makes
 * a tenant-wide role safe to apply.
 */
function strongest(a: AgentRole | undefined, b: AgentRole | null): AgentRole | undefined {
  if (a === undefined) return b ?? undefined;
  if (b === null) return a;
  return agentRoleAtLeast(a, b) ? a : b;
}

function deny(reason: DenyReason, visible: boolean, message: string): Decision {
  return { allowed: false, reason, visible, message };
}
