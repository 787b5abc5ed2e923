import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { codeOf, migratedContext, newUser, scopeOf, system, tenantWithMembers, userActor, type TestContext } from '../../test/support/identity-fixture';
import { createAgentToken } from './agent-token-repository';
import { authenticateBearer } from './authenticate-bearer';
import { hashTokenSecret } from './token-secret';
import { authenticateUserToken, createUserToken, listUserTokens, revokeUserToken } from './user-token-repository';

await describeEachDatabase<DataMachineDatabase>('personal access tokens', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  it('shows the secret once, stores only its hash, and lists without it', async () => {
    const user = await newUser(context, 'pat-hash');
    const { token, secret } = await createUserToken(context, userActor(user.id), { label: 'laptop' });
    expect(secret).toMatch(/^dmpt_[A-Za-z0-9_-]{43}$/);
    expect(secret.startsWith(token.prefix)).toBe(true);
    const stored = await database.db.selectFrom('dm_user_tokens').selectAll().where('id', '=', token.id).executeTakeFirstOrThrow();
    expect(stored.secret_hash).toBe(hashTokenSecret(secret));
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(await listUserTokens(context, userActor(user.id))).toEqual([expect.objectContaining({ id: token.id, label: 'laptop' })]);
  });

  it('authenticates as its user, recording its use', async () => {
    const user = await newUser(context, 'pat-auth');
    const { token, secret } = await createUserToken(context, userActor(user.id), { label: 'cli' });
    expect(await authenticateUserToken(context, secret, 'http')).toEqual({ actor: { kind: 'user', userId: user.id, channel: 'http' }, tokenId: token.id });
    const [listed] = await listUserTokens(context, userActor(user.id));
    expect(listed?.lastUsedAt).toEqual(context.now());
  });

  it('refuses unknown, revoked and expired tokens with their codes', async () => {
    const user = await newUser(context, 'pat-refuse');
    const actor = userActor(user.id);
    expect(await codeOf(authenticateUserToken(context, 'dmpt_unknown', 'http'))).toBe('token.invalid');
    const revoked = await createUserToken(context, actor, { label: 'old' });
    await revokeUserToken(context, actor, revoked.token.id);
    expect(await codeOf(authenticateUserToken(context, revoked.secret, 'http'))).toBe('token.revoked');
    const expiring = await createUserToken(context, actor, { label: 'short', expiresAt: new Date(context.now().getTime() + 60_000) });
    context.setNow(new Date(context.now().getTime() + 120_000));
    try {
      expect(await codeOf(authenticateUserToken(context, expiring.secret, 'http'))).toBe('token.expired');
    } finally {
      context.setNow(new Date('2026-11-30T12:00:00.000Z'));
    }
  });

  it("lets no one revoke or list another user's tokens: theirs is token.invalid, like a missing one", async () => {
    const owner = await newUser(context, 'pat-owner');
    const other = await newUser(context, 'pat-other');
    const { token } = await createUserToken(context, userActor(owner.id), { label: 'mine' });
    expect(await codeOf(revokeUserToken(context, userActor(other.id), token.id))).toBe('token.invalid');
    expect(await listUserTokens(context, userActor(other.id))).toEqual([]);
  });

  it('lets only the system create a token for someone else, and refuses bad input writing nothing', async () => {
    const user = await newUser(context, 'pat-system');
    const other = await newUser(context, 'pat-intruder');
    expect((await createUserToken(context, system, { label: 'first start', forUserId: user.id })).token.userId).toBe(user.id);
    expect(await codeOf(createUserToken(context, userActor(other.id), { label: 'x', forUserId: user.id }))).toBe('access.denied');
    expect(await codeOf(createUserToken(context, system, { label: 'x' }))).toBe('access.denied');
    expect(await codeOf(createUserToken(context, system, { label: 'x', forUserId: 'usr_missing' }))).toBe('user.not_found');
    expect(await codeOf(createUserToken(context, userActor(user.id), { label: '' }))).toBe('input.invalid');
    expect(await codeOf(createUserToken(context, userActor(user.id), { label: 'past', expiresAt: new Date('2020-01-01T00:00:00Z') }))).toBe('input.invalid');
    expect(await listUserTokens(context, userActor(user.id))).toHaveLength(1);
    expect(await listUserTokens(context, userActor(other.id))).toEqual([]);
  });

  it('authenticates a bearer secret by its prefix: user tokens, agent tokens, and nothing else', async () => {
    const { owner, tenant } = await tenantWithMembers(context, 'pat-bearer');
    const { secret: personal } = await createUserToken(context, userActor(owner.id), { label: 'pat' });
    const ownerScope = await scopeOf(context, owner.id, tenant.id);
    await createAgent(context, ownerScope, { slug: 'bearer-bot', name: 'Bot' });
    const { secret: agentSecret, token } = await createAgentToken(context, ownerScope, 'bearer-bot', { label: 'ci', ceiling: ['chat'] });
    expect(await authenticateBearer(context, personal, 'http')).toMatchObject({ kind: 'user', actor: { kind: 'user', userId: owner.id } });
    expect(await authenticateBearer(context, agentSecret, 'http')).toMatchObject({ kind: 'agent_token', tenantId: tenant.id, actor: { kind: 'token', tokenId: token.id } });
    expect(await codeOf(authenticateBearer(context, 'Bearer nonsense', 'http'))).toBe('token.invalid');
    // An agent token acts for one agent: it cannot mint a personal token for its owner.
    const { actor } = await authenticateBearer(context, agentSecret, 'http');
    expect(await codeOf(createUserToken(context, actor, { label: 'escalate' }))).toBe('access.denied');
  });
});
