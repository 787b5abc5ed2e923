import { z } from 'zod';

/** A user's role in a tenant. */
export const tenantRoles = ['owner', 'admin', 'editor', 'author', 'subscriber'] as const;
export type TenantRole = (typeof tenantRoles)[number];
export const tenantRoleSchema = z.enum(tenantRoles);

/** What a tenant role lets a member do anywhere in the tenant. */
export const tenantCapabilities = ['manage_settings', 'manage_agents', 'manage_flows', 'chat', 'use_tools', 'view_logs', 'create_own_agent'] as const;
export type TenantCapability = (typeof tenantCapabilities)[number];
export const tenantCapabilitySchema = z.enum(tenantCapabilities);

const everything = tenantCapabilities;

/**
 * The role to capability map (seed 001): the one place to change what a
 * tenant role may do. `docs/authorization.md` is rendered from it.
 */
export const roleCapabilities: Readonly<Record<TenantRole, readonly TenantCapability[]>> = Object.freeze({
  owner: everything,
  admin: everything,
  editor: ['chat', 'use_tools', 'view_logs', 'create_own_agent'],
  author: ['chat', 'use_tools', 'create_own_agent'],
  subscriber: ['chat'],
});

/** Tenant roles that are `admin` on every agent of their tenant. */
export const tenantAdminRoles: readonly TenantRole[] = ['owner', 'admin'];

/** A user's role on one agent, weakest first. */
export const agentRoles = ['viewer', 'operator', 'admin'] as const;
export type AgentRole = (typeof agentRoles)[number];
export const agentRoleSchema = z.enum(agentRoles);

/** Whether `held` is at least `needed`. */
export function agentRoleAtLeast(held: AgentRole, needed: AgentRole): boolean {
  return agentRoles.indexOf(held) >= agentRoles.indexOf(needed);
}

/** Whether members with `role` have `capability`. */
export function roleHas(role: TenantRole, capability: TenantCapability): boolean {
  return roleCapabilities[role].includes(capability);
}
