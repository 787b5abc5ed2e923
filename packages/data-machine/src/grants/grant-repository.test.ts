import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { codeOf, migratedContext, newUser, type TestContext } from '../../test/support/identity-fixture';
import { flowWorld } from '../../test/support/pipeline-fixture';
import { findUser } from '../users/user-repository';
import { grantAgentRole, listAgentGrants } from './grant-repository';

await describeEachDatabase<DataMachineDatabase>('agent grants by email', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  it("grants a member named by email (in any case), recording the member's user id", async () => {
    const world = await flowWorld(context, 'grant-email');
    const member = await findUser(context, world.userIds.member);
    const grant = await grantAgentRole(context, world.owner, 'bot', { userId: member?.email.toUpperCase() ?? '', role: 'operator' });
    expect(grant).toMatchObject({ userId: world.userIds.member, role: 'operator' });
    expect((await listAgentGrants(context, world.owner, 'bot')).find((found) => found.userId === world.userIds.member)?.role).toBe('operator');
  });

  it('refuses an email no member has, whether or not a user has it (membership.not_found), writing nothing', async () => {
    const world = await flowWorld(context, 'grant-email-refused');
    const outsider = await newUser(context, 'grant-email-outsider');
    const before = await listAgentGrants(context, world.owner, 'bot');
    expect(await codeOf(grantAgentRole(context, world.owner, 'bot', { userId: outsider.email, role: 'viewer' }))).toBe('membership.not_found');
    expect(await codeOf(grantAgentRole(context, world.owner, 'bot', { userId: 'nobody@example.test', role: 'viewer' }))).toBe('membership.not_found');
    expect(await codeOf(grantAgentRole(context, world.owner, 'bot', { userId: 'not an @ email', role: 'viewer' }))).toBe('input.invalid');
    expect(await listAgentGrants(context, world.owner, 'bot')).toEqual(before);
  });
});
