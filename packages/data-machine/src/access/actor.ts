import type { AgentRole, TenantCapability, TenantRole } from './roles';

/** Where a request came from; recorded with every decision. */
export type ActorChannel = 'http' | 'cli' | 'chat' | 'schedule' | 'worker';

/**
 * Who is acting, as authentication established it. There is no anonymous
 * actor and no implicit one: the CLI acts as a named user or as `system`,
 * scheduled work as the user who scheduled it.
 */
export type Actor =
  | { readonly kind: 'user'; readonly userId: string; readonly channel: ActorChannel }
  | {
      readonly kind: 'token';
      /** The token's owner: the token never has more than this user. */
      readonly userId: string;
      readonly tokenId: string;
      /** The one agent the token acts for. */
      readonly agentId: string;
      /** The capabilities the token may use, on top of its owner's rights. */
      readonly ceiling: readonly TenantCapability[];
      readonly expiresAt: Date | null;
      readonly revokedAt: Date | null;
      readonly channel: ActorChannel;
    }
  | {
      /** Scheduled work: the agent's runtime, with the rights of the user who scheduled it, re-checked when it runs. */
      readonly kind: 'schedule';
      readonly userId: string;
      readonly agentId: string;
      readonly channel: 'schedule' | 'worker';
    }
  | { readonly kind: 'system'; readonly channel: ActorChannel; readonly reason: string };

/** The acting user of an actor, or null for `system`. */
export function actingUserId(actor: Actor): string | null {
  return actor.kind === 'system' ? null : actor.userId;
}

/**
 * What the database says about the acting user in one tenant, loaded fresh
 * for each request (so a grant revoked a moment ago is gone).
 */
export interface AccessFacts {
  readonly tenantId: string;
  /** The acting user's role in the tenant, or null when not a member. */
  readonly membership: TenantRole | null;
  /**
   * The acting user's effective role on each agent of the tenant it has one
   * on: `admin` for tenant owners and admins and for an agent's owner, else its grant.
   */
  readonly agentRoles: ReadonlyMap<string, AgentRole>;
  /** The role held on every agent of the tenant (`admin` for tenant owners and admins), or null. */
  readonly tenantWideRole: AgentRole | null;
}
