import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createUser } from '../users/user-repository';
import { codeOf, migratedContext, newUser, scopeOf, system, tenantWithMembers, userActor, type TestContext } from '../../test/support/identity-fixture';
import { resolveScope } from '../scope/scope';
import { addMember, createTenant, findTenant, listMembers, listMyTenants, updateTenantSettings } from './tenant-repository';

await describeEachDatabase<DataMachineDatabase>('tenants and members', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  it('creates a tenant with its owner and a default agent, in one go', async () => {
    const owner = await newUser(context, 'founder');
    const { tenant, defaultAgent } = await createTenant(context, userActor(owner.id), { slug: 'acme', name: 'Acme' });
    expect(defaultAgent).toMatchObject({ tenantId: tenant.id, slug: 'default', isDefault: true });
    expect(await listMyTenants(context, userActor(owner.id))).toEqual([{ tenant, role: 'owner' }]);
  });

  it('refuses a taken slug and writes nothing', async () => {
    await createTenant(context, system, { slug: 'taken', name: 'First' });
    expect(await codeOf(createTenant(context, system, { slug: 'taken', name: 'Second' }))).toBe('tenant.slug_taken');
    const agents = await database.db.selectFrom('dm_agents').innerJoin('dm_tenants', 'dm_tenants.id', 'dm_agents.tenant_id').select('dm_tenants.name').where('dm_tenants.slug', '=', 'taken').execute();
    expect(agents.map((row) => row.name)).toEqual(['First']);
  });

  it('refuses a malformed slug, an unknown role and a duplicate email', async () => {
    expect(await codeOf(createTenant(context, system, { slug: '-bad-', name: 'Bad' }))).toBe('input.invalid');
    const { tenant, owner } = await tenantWithMembers(context, 'bad-input');
    const user = await newUser(context, 'joiner');
    expect(await codeOf(addMember(context, await scopeOf(context, owner.id, tenant.id), { userId: user.id, role: 'superuser' as never }))).toBe('input.invalid');
    await createUser(context, system, { email: 'Same@Example.test', displayName: 'One' });
    expect(await codeOf(createUser(context, system, { email: ' same@example.TEST ', displayName: 'Two' }))).toBe('user.email_taken');
    expect(await codeOf(createUser(context, system, { email: 'not an email', displayName: 'Three' }))).toBe('input.invalid');
  });

  it('refuses adding a user that does not exist', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'ghost');
    expect(await codeOf(addMember(context, await scopeOf(context, owner.id, tenant.id), { userId: 'usr_ghost', role: 'editor' }))).toBe('user.not_found');
  });

  it('lets only the system create users, and a user create only tenants they own', async () => {
    const user = await newUser(context, 'plain');
    expect(await codeOf(createUser(context, userActor(user.id), { email: 'x@example.test', displayName: 'X' }))).toBe('access.denied');
    const other = await newUser(context, 'other');
    expect(await codeOf(createTenant(context, userActor(user.id), { slug: 'for-other', name: 'For other', ownerUserId: other.id }))).toBe('access.denied');
  });

  it('lets only an owner make or unmake owners', async () => {
    const { tenant, owner, members } = await tenantWithMembers(context, 'owners', ['admin', 'editor']);
    const admin = await scopeOf(context, members.admin!.id, tenant.id);
    expect(await codeOf(addMember(context, admin, { userId: members.editor!.id, role: 'owner' }))).toBe('access.denied');
    expect(await codeOf(addMember(context, admin, { userId: owner.id, role: 'subscriber' }))).toBe('access.denied');
    await expect(addMember(context, admin, { userId: members.editor!.id, role: 'author' })).resolves.toEqual({ userId: members.editor!.id, role: 'author' });
    expect(context.denials.some((denial) => denial.entry.reason === 'owner_only')).toBe(true);
  });

  it('keeps members of one tenant from managing another', async () => {
    const first = await tenantWithMembers(context, 'iso-one');
    const second = await tenantWithMembers(context, 'iso-two');
    const stranger = await newUser(context, 'stranger');
    const firstOwnerInSecond = await scopeOf(context, first.owner.id, second.tenant.id);
    expect(await codeOf(addMember(context, firstOwnerInSecond, { userId: stranger.id, role: 'admin' }))).toBe('tenant.not_found');
  });

  it('starts a tenant without the allowance to reach private addresses', async () => {
    const { tenant } = await tenantWithMembers(context, 'net-default');
    expect(tenant.allowPrivateAddresses).toBe(false);
    expect((await findTenant(context, tenant.id))?.allowPrivateAddresses).toBe(false);
  });

  it("lets only the system principal change whether a tenant's handlers reach private addresses; an owner is refused and nothing changes", async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'net-operator');
    const ownerScope = await scopeOf(context, owner.id, tenant.id);
    expect(await codeOf(updateTenantSettings(context, ownerScope, { name: 'Renamed', allowPrivateAddresses: true }))).toBe('access.denied');
    expect(context.denials.some((denial) => denial.entry.reason === 'system_only' && denial.entry.actorKind === 'user')).toBe(true);
    expect(await findTenant(context, tenant.id)).toMatchObject({ name: 'net-operator', allowPrivateAddresses: false });
    const changed = await updateTenantSettings(context, await resolveScope(context, system, tenant.id), { allowPrivateAddresses: true });
    expect(changed).toMatchObject({ id: tenant.id, allowPrivateAddresses: true });
    // The owner still manages the rest of the settings, and doing so leaves the operator's choice alone.
    expect(await updateTenantSettings(context, ownerScope, { name: 'Renamed' })).toMatchObject({ name: 'Renamed', allowPrivateAddresses: true });
  });

  it('lists the members with their roles a page at a time, oldest first, to those who manage the tenant', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'roster');
    const ownerScope = await scopeOf(context, owner.id, tenant.id);
    const members: Record<string, { id: string; email: string }> = {};
    // Joined a minute apart, in this order.
    for (const role of ['admin', 'editor', 'subscriber'] as const) {
      context.setNow(new Date(context.now().getTime() + 60_000));
      members[role] = await newUser(context, `roster-${role}`);
      await addMember(context, ownerScope, { userId: members[role].id, role });
    }
    const admin = await scopeOf(context, members.admin!.id, tenant.id);
    const first = await listMembers(context, admin, { limit: 3 });
    const second = await listMembers(context, admin, { limit: 3, cursor: first.nextCursor ?? 'none' });
    expect([...first.items, ...second.items].map((member) => [member.email, member.role])).toEqual([
      [owner.email, 'owner'],
      [members.admin!.email, 'admin'],
      [members.editor!.email, 'editor'],
      [members.subscriber!.email, 'subscriber'],
    ]);
    expect(second.nextCursor).toBeNull();
    expect(await codeOf(listMembers(context, await scopeOf(context, members.editor!.id, tenant.id)))).toBe('access.denied');
    expect(await codeOf(listMembers(context, admin, { cursor: 'not-a-cursor' }))).toBe('input.invalid');
  });
});
