import type { Selectable } from 'kysely';
import { z } from 'zod';
import { actingUserId, type Actor } from '../access/actor';
import { tenantRoleSchema, type TenantRole } from '../access/roles';
import { createDefaultAgentRow, recordAgentCreated, rowAsRead, toAgent, type Agent } from '../agents/agent-repository';
import type { DataMachineContext } from '../context';
import { isForeignKeyViolation, isUniqueViolation } from '../database/database-errors';
import type { TenantTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput, slugSchema } from '../input';
import { decodeCursor, pageOf, pageOptionsSchema, type Page, type PageOptions } from '../jobs/page-cursor';
import type { Scope } from '../scope/scope';
import { tenantOperation } from '../scope/scoped-operation';
import { inTransaction } from '../scope/tenant-transaction';
import { requireSystem } from '../users/user-repository';

/** A tenant: an organisation or site; every product row carries its id. */
export interface Tenant {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  /** A public catalog of template agents. */
  readonly isCatalog: boolean;
  /** How many agents a member without `manage_agents` may own. */
  readonly agentLimitPerUser: number;
  /**
   * Whether the tenant's handlers may reach private, loopback and link-local
   * addresses. The operator's decision: only the system principal changes it.
   */
  readonly allowPrivateAddresses: boolean;
  readonly createdAt: Date;
}

/** What {@link createTenant} takes. */
export const newTenantSchema = z.object({
  slug: slugSchema,
  name: nameSchema,
  isCatalog: z.boolean().default(false),
  agentLimitPerUser: z.number().int().min(0).max(10_000).default(1),
  /** The first owner; a user creating a tenant always owns it themselves. */
  ownerUserId: z.string().min(1).nullable().default(null),
});
export type NewTenant = z.input<typeof newTenantSchema>;

/**
 * Creates a tenant, its owner's membership and its default agent in one
 * transaction. The system may create any tenant; a user creates one they
 * own. `tenant.slug_taken` when the slug exists; nothing is written then.
 */
export async function createTenant(context: DataMachineContext, actor: Actor, input: NewTenant): Promise<{ tenant: Tenant; defaultAgent: Agent }> {
  const fields = parseInput(newTenantSchema, input, 'tenant');
  const owner = ownerFor(context, actor, fields.ownerUserId);
  const now = context.now();
  const row: Omit<Selectable<TenantTable>, 'retention'> = {
    id: context.newId('tnt'),
    slug: fields.slug,
    name: fields.name,
    is_catalog: fields.isCatalog,
    agent_limit_per_user: fields.agentLimitPerUser,
    allow_private_addresses: false,
    created_at: now,
    updated_at: now,
  };
  try {
    return await inTransaction(context, { tenantId: row.id, userId: owner }, async (trx) => {
      await trx.insertInto('dm_tenants').values(row).execute();
      if (owner !== null) {
        await trx.insertInto('dm_memberships').values({ tenant_id: row.id, user_id: owner, role: 'owner', created_by: owner, created_at: now }).execute();
      }
      const agent = createDefaultAgentRow(context, row, owner);
      await trx.insertInto('dm_agents').values(agent).execute();
      await recordAgentCreated(context, trx, agent, null);
      return { tenant: toTenant(row), defaultAgent: toAgent(rowAsRead(agent, {}), null) };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'dm_tenants_slug_key')) {
      throw new DataMachineError('tenant.slug_taken', `A tenant with the slug "${fields.slug}" exists.`, { details: { slug: fields.slug } });
    }
    if (isForeignKeyViolation(error)) {
      throw new DataMachineError('user.not_found', `There is no user "${owner ?? ''}".`, { details: { userId: owner } });
    }
    throw error;
  }
}

function ownerFor(context: DataMachineContext, actor: Actor, requested: string | null): string | null {
  if (actor.kind === 'system') return requested;
  if (actor.kind === 'user' && (requested === null || requested === actor.userId)) return actor.userId;
  context.logger.warn({ event: 'access.denied', action: 'tenant.create', reason: 'owner_is_self', actorKind: actor.kind }, 'denied tenant.create');
  throw new DataMachineError('access.denied', 'Not permitted: a user creates tenants they own themselves, and tokens create none.', {
    details: { reason: 'owner_is_self' },
  });
}

/** The tenant with this id or slug, or undefined. Tenants are global: any authenticated caller may resolve one. */
export async function findTenant(context: DataMachineContext, ref: string): Promise<Tenant | undefined> {
  const row = await inTransaction(context, {}, (trx) =>
    trx
      .selectFrom('dm_tenants')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', ref), eb('slug', '=', ref)]))
      .executeTakeFirst(),
  );
  return row ? toTenant(row) : undefined;
}

/** The tenants the acting user is a member of, with the role in each. */
export async function listMyTenants(context: DataMachineContext, actor: Actor): Promise<readonly { tenant: Tenant; role: TenantRole }[]> {
  const userId = actingUserId(actor);
  if (userId === null) return [];
  const rows = await inTransaction(context, { userId }, (trx) =>
    trx
      .selectFrom('dm_memberships')
      .innerJoin('dm_tenants', 'dm_tenants.id', 'dm_memberships.tenant_id')
      .selectAll('dm_tenants')
      .select('dm_memberships.role')
      .where('dm_memberships.user_id', '=', userId)
      .orderBy('dm_tenants.slug')
      .execute(),
  );
  return rows.map((row) => ({ tenant: toTenant(row), role: row.role as TenantRole }));
}

/** What {@link updateTenantSettings} takes. */
export const tenantSettingsSchema = z
  .object({
    name: nameSchema.optional(),
    agentLimitPerUser: z.number().int().min(0).max(10_000).optional(),
    allowPrivateAddresses: z.boolean().optional().describe("Operator only: whether the tenant's handlers may reach private, loopback and link-local addresses. Only the system principal may set it; anyone else is refused with access.denied."),
  })
  .strict();

/**
 * Changes the tenant's name or self-service agent limit (`tenant.manage`),
 * and, for the system principal only, whether its handlers may reach private
 * addresses: on a shared server that opens the server's own network to the
 * tenant's flows (SSRF), so it is the operator's decision, and anyone else
 * setting it is `access.denied` (reason `system_only`) with nothing changed.
 */
export async function updateTenantSettings(context: DataMachineContext, scope: Scope, input: z.input<typeof tenantSettingsSchema>): Promise<Tenant> {
  const fields = parseInput(tenantSettingsSchema, input, 'tenant settings');
  if (fields.allowPrivateAddresses !== undefined) requireSystem(context, scope.actor, "change whether a tenant's handlers may reach private addresses");
  return tenantOperation(context, scope, 'tenant.manage', async (trx) => {
    const row = await trx
      .updateTable('dm_tenants')
      .set({
        ...(fields.name === undefined ? {} : { name: fields.name }),
        ...(fields.agentLimitPerUser === undefined ? {} : { agent_limit_per_user: fields.agentLimitPerUser }),
        ...(fields.allowPrivateAddresses === undefined ? {} : { allow_private_addresses: fields.allowPrivateAddresses }),
        updated_at: context.now(),
      })
      .where('id', '=', scope.tenantId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  });
}

/** What {@link addMember} takes. */
export const newMemberSchema = z.object({ userId: z.string().min(1), role: tenantRoleSchema });

/**
 * Adds a user to the tenant, or changes their role (`tenant.manage`). Only an
 * owner (or the system) makes someone an owner or changes an owner's role: an
 * admin can neither raise anyone above admin nor demote an owner.
 */
export async function addMember(context: DataMachineContext, scope: Scope, input: z.input<typeof newMemberSchema>): Promise<{ userId: string; role: TenantRole }> {
  const fields = parseInput(newMemberSchema, input, 'member');
  return tenantOperation(context, scope, 'tenant.manage', async (trx, facts) => {
    const existing = await trx.selectFrom('dm_memberships').select('role').where('tenant_id', '=', scope.tenantId).where('user_id', '=', fields.userId).executeTakeFirst();
    const touchesOwner = fields.role === 'owner' || existing?.role === 'owner';
    if (touchesOwner && scope.actor.kind !== 'system' && facts.membership !== 'owner') {
      context.logger.warn({ event: 'access.denied', action: 'tenant.manage', reason: 'owner_only', tenantId: scope.tenantId }, 'denied: only owners make owners');
      throw new DataMachineError('access.denied', 'Not permitted: only an owner makes someone an owner.', { details: { reason: 'owner_only' } });
    }
    const user = await trx.selectFrom('dm_users').select('id').where('id', '=', fields.userId).executeTakeFirst();
    if (!user) throw new DataMachineError('user.not_found', `There is no user "${fields.userId}".`, { details: { userId: fields.userId } });
    await trx
      .insertInto('dm_memberships')
      .values({ tenant_id: scope.tenantId, user_id: fields.userId, role: fields.role, created_by: actingUserId(scope.actor), created_at: context.now() })
      .onConflict((conflict) => conflict.columns(['tenant_id', 'user_id']).doUpdateSet({ role: fields.role }))
      .execute();
    return { userId: fields.userId, role: fields.role };
  });
}

/** A member of a tenant, as {@link listMembers} shows them. */
export interface TenantMember {
  readonly userId: string;
  readonly email: string;
  readonly displayName: string;
  readonly role: TenantRole;
  /** When they joined (or were added). */
  readonly createdAt: Date;
}

/**
 * The members of the scope's tenant with their tenant role, oldest first,
 * a page at a time. Reading who belongs to a tenant, with their emails, is
 * part of managing its members: `tenant.manage`, like changing them.
 */
export async function listMembers(context: DataMachineContext, scope: Scope, options: PageOptions = {}): Promise<Page<TenantMember>> {
  const { limit, cursor } = parseInput(pageOptionsSchema, options, 'member list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return tenantOperation(context, scope, 'tenant.manage', async (trx) => {
    let query = trx
      .selectFrom('dm_memberships')
      .innerJoin('dm_users', 'dm_users.id', 'dm_memberships.user_id')
      .select(['dm_memberships.user_id', 'dm_memberships.role', 'dm_memberships.created_at', 'dm_users.email', 'dm_users.display_name'])
      .where('dm_memberships.tenant_id', '=', scope.tenantId);
    if (after !== undefined) {
      query = query.where((eb) =>
        eb.or([eb('dm_memberships.created_at', '>', after.at), eb.and([eb('dm_memberships.created_at', '=', after.at), eb('dm_memberships.user_id', '>', after.id)])]),
      );
    }
    const rows = await query.orderBy('dm_memberships.created_at').orderBy('dm_memberships.user_id').limit(limit + 1).execute();
    return pageOf(
      rows,
      limit,
      (row) => ({ at: row.created_at, id: row.user_id }),
      (row): TenantMember => ({ userId: row.user_id, email: row.email, displayName: row.display_name, role: row.role as TenantRole, createdAt: row.created_at }),
    );
  });
}

export function toTenant(row: Omit<Selectable<TenantTable>, 'retention'>): Tenant {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    isCatalog: row.is_catalog,
    agentLimitPerUser: row.agent_limit_per_user,
    allowPrivateAddresses: row.allow_private_addresses,
    createdAt: row.created_at,
  };
}
