import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent, deleteAgent, getAgent, updateAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { grantAgentRole, revokeAgentRole } from '../grants/grant-repository';
import { resolveScope } from '../scope/scope';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { authenticateAgentToken, createAgentToken, listAgentTokens, revokeAgentToken } from './agent-token-repository';
import { hashTokenSecret } from './token-secret';


await describeEachDatabase<DataMachineDatabase>('agent tokens', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  async function agentWithAdmin(slug: string) {
    const setup = await tenantWithMembers(context, slug, ['editor']);
    const ownerScope = await scopeOf(context, setup.owner.id, setup.tenant.id);
    const agent = await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.editor!.id, role: 'admin' });
    const admin = await scopeOf(context, setup.members.editor!.id, setup.tenant.id);
    return { ...setup, ownerScope, agent, admin };
  }

  it('shows the secret once and stores only its hash', async () => {
    const { admin, agent } = await agentWithAdmin('tok-hash');
    const { token, secret } = await createAgentToken(context, admin, 'bot', { label: 'ci', ceiling: ['chat'] });
    expect(secret.startsWith(token.prefix)).toBe(true);
    const stored = await database.db.selectFrom('dm_agent_tokens').selectAll().where('id', '=', token.id).executeTakeFirstOrThrow();
    expect(stored.secret_hash).toBe(hashTokenSecret(secret));
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect((await listAgentTokens(context, admin, agent.id)).map((listed) => Object.keys(listed))).not.toContainEqual(expect.arrayContaining(['secret']));
  });

  it('authenticates as its owner on its agent, narrowed by its ceiling', async () => {
    const { admin, tenant } = await agentWithAdmin('tok-auth');
    const { secret } = await createAgentToken(context, admin, 'bot', { label: 'chat only', ceiling: ['chat'] });
    const { actor, tenantId } = await authenticateAgentToken(context, secret, 'http');
    expect(tenantId).toBe(tenant.id);
    const scope = await resolveScope(context, actor, tenantId);
    expect((await getAgent(context, scope, 'bot')).slug).toBe('bot');
    expect(await codeOf(updateAgent(context, scope, 'bot', { name: 'Renamed' }))).toBe('access.denied');
    expect(context.denials.at(-1)?.entry).toMatchObject({ reason: 'token_ceiling' });
    expect(await codeOf(getAgent(context, scope, 'default'))).toBe('agent.not_found');
  });

  it('loses its rights when its owner loses them', async () => {
    const { admin, ownerScope, members } = await agentWithAdmin('tok-owner');
    const { secret } = await createAgentToken(context, admin, 'bot', { label: 'full', ceiling: ['chat', 'manage_agents'] });
    await revokeAgentRole(context, ownerScope, 'bot', members.editor!.id);
    const { actor, tenantId } = await authenticateAgentToken(context, secret, 'http');
    expect(await codeOf(getAgent(context, await resolveScope(context, actor, tenantId), 'bot'))).toBe('agent.not_found');
  });

  it('refuses an unknown, an expired and a revoked secret, and one whose agent was deleted', async () => {
    const { admin, ownerScope } = await agentWithAdmin('tok-refuse');
    expect(await codeOf(authenticateAgentToken(context, 'dmat_not-a-real-secret', 'http'))).toBe('token.invalid');

    const expiring = await createAgentToken(context, admin, 'bot', { label: 'short', ceiling: ['chat'], expiresAt: new Date('2026-12-01T00:00:00Z') });
    context.setNow(new Date('2026-12-02T00:00:00Z'));
    try {
      expect(await codeOf(authenticateAgentToken(context, expiring.secret, 'http'))).toBe('token.expired');
    } finally {
      context.setNow(new Date('2026-11-30T12:00:00.000Z'));
    }

    const revoked = await createAgentToken(context, admin, 'bot', { label: 'gone', ceiling: ['chat'] });
    await revokeAgentToken(context, admin, 'bot', revoked.token.id);
    expect(await codeOf(authenticateAgentToken(context, revoked.secret, 'http'))).toBe('token.revoked');

    const orphan = await createAgentToken(context, admin, 'bot', { label: 'orphan', ceiling: ['chat'] });
    await deleteAgent(context, ownerScope, 'bot');
    expect(await codeOf(authenticateAgentToken(context, orphan.secret, 'http'))).toBe('token.invalid');
  });

  it('refuses a token scope acting after it was revoked mid-request', async () => {
    const { admin } = await agentWithAdmin('tok-mid');
    const { token, secret } = await createAgentToken(context, admin, 'bot', { label: 'mid', ceiling: ['chat', 'manage_agents'] });
    const { actor, tenantId } = await authenticateAgentToken(context, secret, 'http');
    const scope = await resolveScope(context, actor, tenantId);
    expect((await getAgent(context, scope, 'bot')).slug).toBe('bot');
    await revokeAgentToken(context, admin, 'bot', token.id);
    expect(await codeOf(updateAgent(context, scope, 'bot', { name: 'After revocation' }))).toBe('access.denied');
    expect(context.denials.at(-1)?.entry).toMatchObject({ reason: 'token_revoked' });
  });

  describe('bad input, nothing written', () => {
    it('refuses an unknown capability, an empty ceiling and a past expiry', async () => {
      const { admin, agent } = await agentWithAdmin('tok-bad');
      expect(await codeOf(createAgentToken(context, admin, 'bot', { label: 'x', ceiling: ['fly'] as never }))).toBe('input.invalid');
      expect(await codeOf(createAgentToken(context, admin, 'bot', { label: 'x', ceiling: [] }))).toBe('input.invalid');
      expect(await codeOf(createAgentToken(context, admin, 'bot', { label: 'x', ceiling: ['chat'], expiresAt: new Date('2020-01-01') }))).toBe('input.invalid');
      expect(await database.db.selectFrom('dm_agent_tokens').select('id').where('agent_id', '=', agent.id).execute()).toHaveLength(0);
    });

    it('refuses a viewer creating tokens', async () => {
      const { ownerScope, tenant, members } = await agentWithAdmin('tok-viewer');
      await grantAgentRole(context, ownerScope, 'bot', { userId: members.editor!.id, role: 'viewer' });
      const viewer = await scopeOf(context, members.editor!.id, tenant.id);
      expect(await codeOf(createAgentToken(context, viewer, 'bot', { label: 'x', ceiling: ['chat'] }))).toBe('access.denied');
    });
  });
});
