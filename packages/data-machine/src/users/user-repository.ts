import type { Selectable } from 'kysely';
import { z } from 'zod';
import type { Actor } from '../access/actor';
import type { DataMachineContext } from '../context';
import { isUniqueViolation } from '../database/database-errors';
import type { UserTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput } from '../input';
import { inTransaction } from '../scope/tenant-transaction';

/** A person; users are global, their rights are per tenant (memberships) and per agent (grants). */
export interface User {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly createdAt: Date;
}

/** An email address, trimmed and lower-cased so that one person has one user. */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email().max(320));

/** What {@link createUser} takes. */
export const newUserSchema = z.object({ email: emailSchema, displayName: nameSchema });
export type NewUser = z.input<typeof newUserSchema>;

/**
 * Creates a user. Only the system creates users directly (the CLI's
 * `users create`, the first start); members join a tenant through
 * `addMember`. `user.email_taken` when the normalised email exists.
 */
export async function createUser(context: DataMachineContext, actor: Actor, input: NewUser): Promise<User> {
  requireSystem(context, actor, 'create users');
  const fields = parseInput(newUserSchema, input, 'user');
  const row: Selectable<UserTable> = { id: context.newId('usr'), email: fields.email, display_name: fields.displayName, created_at: context.now() };
  try {
    await inTransaction(context, {}, (trx) => trx.insertInto('dm_users').values(row).execute());
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new DataMachineError('user.email_taken', `A user with the email "${fields.email}" exists.`, { details: { email: fields.email } });
    }
    throw error;
  }
  return toUser(row);
}

/** The user with this email (normalised), or undefined. */
export async function findUserByEmail(context: DataMachineContext, email: string): Promise<User | undefined> {
  const normalised = parseInput(emailSchema, email, 'email');
  const row = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_users').selectAll().where('email', '=', normalised).executeTakeFirst());
  return row ? toUser(row) : undefined;
}

/** The user with this id, or undefined. */
export async function findUser(context: DataMachineContext, userId: string): Promise<User | undefined> {
  const row = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_users').selectAll().where('id', '=', userId).executeTakeFirst());
  return row ? toUser(row) : undefined;
}

/** Throws `access.denied` (and logs it) unless the actor is the explicit system principal. */
export function requireSystem(context: DataMachineContext, actor: Actor, what: string): void {
  if (actor.kind === 'system') return;
  context.logger.warn({ event: 'access.denied', action: what, reason: 'system_only', actorKind: actor.kind }, `denied ${what}: only the system principal may`);
  throw new DataMachineError('access.denied', `Not permitted: only the system principal may ${what}.`, { details: { reason: 'system_only' } });
}

export function toUser(row: Selectable<UserTable>): User {
  return { id: row.id, email: row.email, displayName: row.display_name, createdAt: row.created_at };
}
