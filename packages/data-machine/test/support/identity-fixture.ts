import { migrateAgentsApi } from '@data-machine/agents-api/postgres';
import type { Kysely } from 'kysely';
import type { Actor } from '../../src/access/actor';
import type { TenantRole } from '../../src/access/roles';
import { createDataMachineContext, type DataMachineContext } from '../../src/context';
import { DataMachineError } from '../../src/errors';
import type { DataMachineDatabase } from '../../src/database/data-machine-database';
import { migrateDataMachine } from '../../src/database/data-machine-migrations';
import { resolveScope, type Scope } from '../../src/scope/scope';
import { addMember, createTenant, type Tenant } from '../../src/tenants/tenant-repository';
import { createUser, type User } from '../../src/users/user-repository';

/** The explicit system principal tests act as to set things up. */
export const system: Actor = { kind: 'system', channel: 'cli', reason: 'test setup' };

/** A denial the context logged. */
export interface LoggedDenial {
  readonly entry: Readonly<Record<string, unknown>>;
  readonly message: string;
}

/** A context on a migrated database whose clock tests move and whose denials they read. */
export interface TestContext extends DataMachineContext {
  readonly denials: LoggedDenial[];
  setNow(date: Date): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migratedContext(db: Kysely<any>): Promise<TestContext> {
  await migrateAgentsApi(db);
  await migrateDataMachine(db);
  let now = new Date('2026-11-30T12:00:00.000Z');
  const denials: LoggedDenial[] = [];
  const context = createDataMachineContext({
    db: db as Kysely<DataMachineDatabase>,
    now: () => now,
    logger: { warn: (entry, message) => denials.push({ entry, message }) },
  });
  return Object.assign(context, { denials, setNow: (date: Date) => (now = date) });
}

let counter = 0;

/** A new user with a unique email. */
export function newUser(context: DataMachineContext, name: string): Promise<User> {
  counter += 1;
  return createUser(context, system, { email: `${name}-${counter}-${Math.random().toString(36).slice(2)}@example.test`, displayName: name });
}

/** A tenant owned by a new user, and members with each given role. */
export async function tenantWithMembers(
  context: DataMachineContext,
  slug: string,
  roles: readonly TenantRole[] = [],
): Promise<{ tenant: Tenant; owner: User; members: Record<string, User>; defaultAgentId: string }> {
  const owner = await newUser(context, `${slug}-owner`);
  const { tenant, defaultAgent } = await createTenant(context, system, { slug, name: slug, ownerUserId: owner.id });
  const ownerScope = await resolveScope(context, userActor(owner.id), tenant.id);
  const members: Record<string, User> = {};
  for (const role of roles) {
    const user = await newUser(context, `${slug}-${role}`);
    await addMember(context, ownerScope, { userId: user.id, role });
    members[role] = user;
  }
  return { tenant, owner, members, defaultAgentId: defaultAgent.id };
}

/** A user acting over HTTP. */
export function userActor(userId: string): Actor {
  return { kind: 'user', userId, channel: 'http' };
}

/** The scope of a user in a tenant. */
export function scopeOf(context: DataMachineContext, userId: string, tenantId: string): Promise<Scope> {
  return resolveScope(context, userActor(userId), tenantId);
}

/** The code of the DataMachineError `promise` rejects with, or `'resolved'`; anything else is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (DataMachineError.isInstance(error)) return error.code;
    throw error;
  }
  return 'resolved';
}
