import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { resolveScope } from '../scope/scope';
import { updateTenantSettings } from '../tenants/tenant-repository';
import { grantAgentRole, revokeAgentRole } from '../grants/grant-repository';
import { codeOf, migratedContext, scopeOf, system, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { chooseAgent, createAgent, deleteAgent, getAgent, listAgents, updateAgent } from './agent-repository';


await describeEachDatabase<DataMachineDatabase>('agents', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  describe('self-service creation', () => {
    it('lets an author create one agent they own, and refuses the second', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'self-one', ['author']);
      const author = await scopeOf(context, members.author!.id, tenant.id);
      const agent = await createAgent(context, author, { slug: 'mine', name: 'Mine' });
      expect(agent.ownerUserId).toBe(members.author!.id);
      expect(await codeOf(createAgent(context, author, { slug: 'second', name: 'Second' }))).toBe('agent.limit_reached');
      const names = (await listAgents(context, await scopeOf(context, members.author!.id, tenant.id))).map((visible) => [visible.slug, visible.role]);
      expect(names).toEqual([['mine', 'admin']]);
    });

    it('yields exactly one agent from two concurrent creations at the limit', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'self-race', ['author']);
      const author = await scopeOf(context, members.author!.id, tenant.id);
      const outcomes = await Promise.allSettled([
        createAgent(context, author, { slug: 'first', name: 'First' }),
        createAgent(context, author, { slug: 'second', name: 'Second' }),
      ]);
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
      expect(DataMachineError.isInstance(rejected?.reason) && rejected.reason.code).toBe('agent.limit_reached');
      const owned = await database.db.selectFrom('dm_agents').select('slug').where('tenant_id', '=', tenant.id).where('owner_user_id', '=', members.author!.id).execute();
      expect(owned).toHaveLength(1);
    });

    it('follows the tenant setting for the limit', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'self-limit', ['editor']);
      await updateTenantSettings(context, await scopeOf(context, owner.id, tenant.id), { agentLimitPerUser: 2 });
      const editor = await scopeOf(context, members.editor!.id, tenant.id);
      await createAgent(context, editor, { slug: 'one', name: 'One' });
      await createAgent(context, editor, { slug: 'two', name: 'Two' });
      expect(await codeOf(createAgent(context, editor, { slug: 'three', name: 'Three' }))).toBe('agent.limit_reached');
    });

    it('frees a place when an owned agent is deleted', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'self-free', ['author']);
      const author = await scopeOf(context, members.author!.id, tenant.id);
      await createAgent(context, author, { slug: 'old', name: 'Old' });
      await deleteAgent(context, author, 'old');
      await expect(createAgent(context, author, { slug: 'new', name: 'New' })).resolves.toMatchObject({ slug: 'new' });
    });

    it('refuses a non-admin creating an agent for someone else', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'self-other', ['author', 'editor']);
      const author = await scopeOf(context, members.author!.id, tenant.id);
      expect(await codeOf(createAgent(context, author, { slug: 'gift', name: 'Gift', ownerUserId: members.editor!.id }))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'agent.create_any', reason: 'missing_capability' });
    });

    it('refuses a subscriber, who lacks create_own_agent', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'self-sub', ['subscriber']);
      const subscriber = await scopeOf(context, members.subscriber!.id, tenant.id);
      expect(await codeOf(createAgent(context, subscriber, { slug: 'nope', name: 'Nope' }))).toBe('access.denied');
    });

    it('lets a tenant admin create without limit and for others', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'admin-create', ['admin', 'author']);
      const admin = await scopeOf(context, members.admin!.id, tenant.id);
      await createAgent(context, admin, { slug: 'a1', name: 'A1' });
      await createAgent(context, admin, { slug: 'a2', name: 'A2' });
      const gift = await createAgent(context, admin, { slug: 'for-author', name: 'For author', ownerUserId: members.author!.id });
      expect(gift.ownerUserId).toBe(members.author!.id);
    });
  });

  describe('bad input, nothing written', () => {
    it('refuses a malformed slug with the field named', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'bad-slug');
      const scope = await scopeOf(context, owner.id, tenant.id);
      const error = await createAgent(context, scope, { slug: 'Not A Slug', name: 'x' }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('input.invalid');
      expect((error as DataMachineError).details).toMatchObject({ issues: [{ path: 'slug' }] });
      expect(await database.db.selectFrom('dm_agents').select('id').where('tenant_id', '=', tenant.id).execute()).toHaveLength(1);
    });

    it('refuses a duplicate slug in the tenant without counting the agent', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'dup-slug', ['author']);
      const author = await scopeOf(context, members.author!.id, tenant.id);
      expect(await codeOf(createAgent(context, author, { slug: 'default', name: 'Clash' }))).toBe('agent.slug_taken');
      await expect(createAgent(context, author, { slug: 'fine', name: 'Fine' })).resolves.toMatchObject({ slug: 'fine' });
    });

    it('refuses unknown configuration fields', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'bad-config');
      const scope = await scopeOf(context, owner.id, tenant.id);
      expect(await codeOf(createAgent(context, scope, { slug: 'x', name: 'x', config: { temperature: 2 } as never }))).toBe('input.invalid');
    });
  });

  describe('visibility', () => {
    it('reports an invisible agent exactly as a missing one', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'vis', ['editor']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      await createAgent(context, ownerScope, { slug: 'secret', name: 'Secret' });
      const editor = await scopeOf(context, members.editor!.id, tenant.id);
      const invisible = (await getAgent(context, editor, 'secret').then(() => undefined, (error: unknown) => error)) as DataMachineError;
      const missing = (await getAgent(context, editor, 'no-such-agent').then(() => undefined, (error: unknown) => error)) as DataMachineError;
      expect(invisible.code).toBe('agent.not_found');
      expect(missing.code).toBe('agent.not_found');
      expect(Object.keys(invisible.details ?? {})).toEqual(Object.keys(missing.details ?? {}));
    });

    it("never shows another tenant's agent, even to that tenant's admin", async () => {
      const first = await tenantWithMembers(context, 'iso-a');
      const second = await tenantWithMembers(context, 'iso-b');
      const inFirst = await createAgent(context, await scopeOf(context, first.owner.id, first.tenant.id), { slug: 'private', name: 'Private' });
      const secondOwnerInSecond = await scopeOf(context, second.owner.id, second.tenant.id);
      expect(await codeOf(getAgent(context, secondOwnerInSecond, inFirst.id))).toBe('agent.not_found');
      expect((await listAgents(context, secondOwnerInSecond)).map((agent) => agent.id)).not.toContain(inFirst.id);
      // Claiming the other tenant as one's scope does not help: not a member there.
      const claimed = await scopeOf(context, second.owner.id, first.tenant.id);
      expect(await codeOf(getAgent(context, claimed, inFirst.id))).toBe('agent.not_found');
      expect(await codeOf(listAgents(context, claimed))).toBe('tenant.not_found');
    });

    it('makes a non-admin with several agents name one', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'choose', ['editor']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      await createAgent(context, ownerScope, { slug: 'one', name: 'One' });
      await createAgent(context, ownerScope, { slug: 'two', name: 'Two' });
      await grantAgentRole(context, ownerScope, 'one', { userId: members.editor!.id, role: 'viewer' });
      const editor = await scopeOf(context, members.editor!.id, tenant.id);
      expect((await chooseAgent(context, editor, undefined)).slug).toBe('one');
      await grantAgentRole(context, ownerScope, 'two', { userId: members.editor!.id, role: 'viewer' });
      const editorNow = await scopeOf(context, members.editor!.id, tenant.id);
      expect(await codeOf(chooseAgent(context, editorNow, undefined))).toBe('access.ambiguous_agent');
      expect((await chooseAgent(context, editorNow, 'two')).slug).toBe('two');
      expect((await chooseAgent(context, ownerScope, undefined)).isDefault).toBe(true);
    });
  });

  describe('roles on an agent', () => {
    it('keeps a viewer from editing or deleting', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'viewer-edit', ['editor']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      await createAgent(context, ownerScope, { slug: 'shared', name: 'Shared' });
      await grantAgentRole(context, ownerScope, 'shared', { userId: members.editor!.id, role: 'viewer' });
      const viewer = await scopeOf(context, members.editor!.id, tenant.id);
      expect((await getAgent(context, viewer, 'shared')).slug).toBe('shared');
      expect(await codeOf(updateAgent(context, viewer, 'shared', { name: 'Mine now' }))).toBe('access.denied');
      expect(await codeOf(deleteAgent(context, viewer, 'shared'))).toBe('access.denied');
    });

    it('applies a grant revoked after the scope was resolved', async () => {
      const { tenant, owner, members } = await tenantWithMembers(context, 'revoked-mid', ['editor']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      await createAgent(context, ownerScope, { slug: 'ops', name: 'Ops' });
      await grantAgentRole(context, ownerScope, 'ops', { userId: members.editor!.id, role: 'admin' });
      const editor = await scopeOf(context, members.editor!.id, tenant.id);
      await revokeAgentRole(context, ownerScope, 'ops', members.editor!.id);
      expect(await codeOf(updateAgent(context, editor, 'ops', { name: 'Taken' }))).toBe('agent.not_found');
    });

    it('grants only to members, and revokes only what was granted', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'grant-rules');
      const outsider = await tenantWithMembers(context, 'grant-outsider');
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      expect(await codeOf(grantAgentRole(context, ownerScope, 'default', { userId: outsider.owner.id, role: 'viewer' }))).toBe('membership.not_found');
      expect(await codeOf(revokeAgentRole(context, ownerScope, 'default', outsider.owner.id))).toBe('grant.not_found');
      expect(await codeOf(grantAgentRole(context, ownerScope, 'default', { userId: owner.id, role: 'boss' as never }))).toBe('input.invalid');
    });

    it("keeps the tenant's default agent", async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'keep-default');
      expect(await codeOf(deleteAgent(context, await scopeOf(context, owner.id, tenant.id), 'default'))).toBe('agent.protected');
    });

    it('lets the system act explicitly', async () => {
      const { tenant } = await tenantWithMembers(context, 'system-acts');
      const scope = await resolveScope(context, system, tenant.id);
      const agent = await createAgent(context, scope, { slug: 'by-system', name: 'By system', ownerUserId: null });
      expect(agent.ownerUserId).toBeNull();
      expect((await listAgents(context, scope)).map((visible) => visible.slug)).toEqual(['by-system', 'default']);
    });
  });
});
