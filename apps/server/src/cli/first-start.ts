import { createTenant, createUser, createUserToken, findUserByEmail, type Actor, type DataMachineContext, type Tenant, type User } from 'data-machine';
import { sql } from 'kysely';
import type { FirstOwner } from './init-options';

export type { FirstOwner } from './init-options';

/** The system principal of the first start, named in every record it writes. */
const firstStart: Actor = { kind: 'system', channel: 'cli', reason: 'first start' };

/** What the first start made: the owner's token is shown once, here, and never again. */
export interface Initialised {
  readonly tenant: Tenant;
  readonly owner: User;
  readonly ownerToken: string;
}

/**
 * Creates the first tenant, its owner and an owner token when the database
 * has no tenant yet; resolves undefined when it has one. Two processes
 * starting at once on an empty database create one tenant between them
 * (the loser's tenant slug is taken, and it reports undefined), and a start
 * that died after creating the owner is finished by the next one, which
 * finds the owner by email.
 */
export async function initialiseIfEmpty(context: DataMachineContext, owner: FirstOwner): Promise<Initialised | undefined> {
  if (await hasTenants(context)) return undefined;
  const user = await ownerUser(context, owner);
  try {
    const { tenant } = await createTenant(context, firstStart, { slug: owner.tenantSlug, name: owner.tenantName, ownerUserId: user.id });
    const { secret } = await createUserToken(context, firstStart, { label: 'first start', forUserId: user.id });
    return { tenant, owner: user, ownerToken: secret };
  } catch (error) {
    if (await hasTenants(context)) return undefined;
    throw error;
  }
}

async function ownerUser(context: DataMachineContext, owner: FirstOwner): Promise<User> {
  const existing = await findUserByEmail(context, owner.email);
  if (existing) return existing;
  try {
    return await createUser(context, firstStart, { email: owner.email, displayName: owner.displayName });
  } catch (error) {
    const created = await findUserByEmail(context, owner.email);
    if (created) return created;
    throw error;
  }
}

async function hasTenants(context: DataMachineContext): Promise<boolean> {
  const { rows } = await sql<{ any: boolean }>`select exists (select 1 from dm_tenants) as any`.execute(context.db);
  return rows[0]?.any === true;
}
