import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent, getAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { grantAgentRole, revokeAgentRole } from '../grants/grant-repository';
import { createAgentToken, revokeAgentToken } from '../tokens/agent-token-repository';
import { createUserToken, listUserTokens, revokeUserToken } from '../tokens/user-token-repository';
import { createTenant } from '../tenants/tenant-repository';
import { countingContext } from '../../test/support/counting-context';
import { codeOf, migratedContext, scopeOf, system, tenantWithMembers, userActor, type TestContext } from '../../test/support/identity-fixture';
import { createBearerAccessCache } from './bearer-access-cache';
import { resolveBearerAccess, type AccessOutcome, type BearerAccessRequest, type BearerTenantCandidates, type TenantMembershipRef } from './request-access';

await describeEachDatabase<DataMachineDatabase>('one statement for a bearer request', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** The test's tenant rule: an agent token's own tenant, or a user's only (or named) one; anything else is refused. */
  function chooseTenant(ref?: string) {
    return ({ identity, memberships, named }: BearerTenantCandidates): string => {
      if (identity.kind === 'agent_token') {
        if (ref !== undefined && named?.tenantId !== identity.tenantId) throw new DataMachineError('tenant.not_found', `no tenant ${ref}`);
        return identity.tenantId;
      }
      const chosen = ref === undefined ? (memberships.length === 1 ? memberships[0] : undefined) : memberships.find((membership) => membership.slug === ref || membership.tenantId === ref);
      if (!chosen) throw new DataMachineError('tenant.not_found', `no tenant ${ref ?? '(unnamed)'}`);
      return chosen.tenantId;
    };
  }

  const access = (secret: string, options: Partial<BearerAccessRequest> & { tenantRef?: string } = {}) =>
    resolveBearerAccess(context, { secret, channel: 'http', chooseTenant: chooseTenant(options.tenantRef), ...options });

  function value<T>(outcome: AccessOutcome<T> | undefined): T {
    if (!outcome?.ok) throw outcome?.error ?? new Error('nothing was asked');
    return outcome.value;
  }
  async function refusal(outcome: AccessOutcome<unknown> | undefined): Promise<string> {
    if (outcome === undefined) return 'absent';
    return codeOf(outcome.ok ? Promise.resolve() : Promise.reject(outcome.error));
  }

  /** A tenant with agent `bot`, an editor who is its viewer, an author with no role on it, and the owner's personal token. */
  async function world(slug: string) {
    const setup = await tenantWithMembers(context, slug, ['editor', 'author']);
    const ownerScope = await scopeOf(context, setup.owner.id, setup.tenant.id);
    await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot', config: { instructions: 'Be brief.' } });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.editor!.id, role: 'viewer' });
    const token = async (userId: string) => (await createUserToken(context, system, { label: 'pat', forUserId: userId })).secret;
    return { ...setup, ownerScope, ownerToken: await token(setup.owner.id), editorToken: await token(setup.members.editor!.id), authorToken: await token(setup.members.author!.id) };
  }

  describe('a personal access token', () => {
    it('gives the identity and the scope resolveScope gives, in the user\'s only tenant', async () => {
      const { tenant, members, editorToken } = await world('ra-scope');
      const found = await access(editorToken);
      expect(found.identity).toMatchObject({ kind: 'user', actor: { kind: 'user', userId: members.editor!.id, channel: 'http' } });
      const expected = await scopeOf(context, members.editor!.id, tenant.id);
      expect(value(found.scope)).toEqual(expected);
      expect(found.agent).toBeUndefined();
    });

    it('keeps the identity when the tenant cannot be chosen, the refusal in place of the scope and the agent', async () => {
      const { ownerToken } = await world('ra-unchosen');
      const found = await access(ownerToken, { tenantRef: 'elsewhere', agent: { ref: 'bot', action: 'chat' } });
      expect(found.identity.kind).toBe('user');
      expect(await refusal(found.scope)).toBe('tenant.not_found');
      expect(await refusal(found.agent)).toBe('tenant.not_found');
    });

    it('refuses an unknown and an expired token as authenticateBearer does, and a secret of no known kind', async () => {
      const { owner } = await world('ra-refused');
      expect(await codeOf(access('dmpt_unknown'))).toBe('token.invalid');
      expect(await codeOf(access('Bearer-ish'))).toBe('token.invalid');
      const expiring = await createUserToken(context, system, { label: 'short', forUserId: owner.id, expiresAt: new Date(context.now().getTime() + 1000) });
      context.setNow(new Date(context.now().getTime() + 2000));
      try {
        expect(await codeOf(access(expiring.secret))).toBe('token.expired');
      } finally {
        context.setNow(new Date('2026-11-30T12:00:00.000Z'));
      }
    });

    it('reads the scope and the agent in the tenant the host chooses, when it is not the one the statement expected', async () => {
      const { owner, ownerToken } = await world('ra-chosen-first');
      const second = await createTenant(context, system, { slug: 'ra-chosen-second', name: 'Second', ownerUserId: owner.id });
      await createAgent(context, await scopeOf(context, owner.id, second.tenant.id), { slug: 'bot', name: 'Second bot', config: {} });
      const secondScope = await scopeOf(context, owner.id, second.tenant.id);
      // Unnamed, the statement expects the first tenant by slug; this host takes the last one.
      const last = ({ memberships }: BearerTenantCandidates) => memberships.at(-1)!.tenantId;
      const found = await access(ownerToken, { chooseTenant: last, agent: { ref: 'bot', action: 'chat' } });
      expect(value(found.scope)).toEqual(secondScope);
      expect(value(found.agent)).toEqual(await getAgent(context, secondScope, 'bot'));
    });

    it('authenticates, chooses and reads the agent in one statement and no transaction, once its use is recorded', async () => {
      const { editorToken } = await world('ra-one-statement');
      await access(editorToken);
      const counted = countingContext(context);
      const found = await resolveBearerAccess(counted.context, { secret: editorToken, channel: 'http', chooseTenant: chooseTenant(), agent: { ref: 'bot', action: 'chat' } });
      expect(value(found.agent).slug).toBe('bot');
      expect(counted.counts).toEqual({ statements: 1, transactions: 0 });
    });

    it('records its use, then at most once a minute', async () => {
      const { owner } = await world('ra-last-used');
      const { secret } = await createUserToken(context, system, { label: 'counted', forUserId: owner.id });
      const lastUsed = async () => (await listUserTokens(context, userActor(owner.id))).find((token) => token.label === 'counted')?.lastUsedAt;
      const start = context.now();
      try {
        await access(secret);
        expect(await lastUsed()).toEqual(start);
        context.setNow(new Date(start.getTime() + 59_000));
        await access(secret);
        expect(await lastUsed()).toEqual(start);
        context.setNow(new Date(start.getTime() + 60_000));
        await access(secret);
        expect(await lastUsed()).toEqual(new Date(start.getTime() + 60_000));
      } finally {
        context.setNow(start);
      }
    });
  });

  describe('with an agent', () => {
    it('decides the action and reads the agent as getAgent does', async () => {
      const { ownerScope, editorToken } = await world('ra-agent');
      const found = await access(editorToken, { agent: { ref: 'bot', action: 'chat' } });
      expect(value(found.agent)).toEqual(await getAgent(context, ownerScope, 'bot'));
      expect(value(found.agent).effectiveConfig.instructions).toBe('Be brief.');
    });

    it('refuses an invisible agent exactly as a missing one, and a role too low with access.denied, logging each', async () => {
      const { authorToken, editorToken } = await world('ra-denied');
      const before = context.denials.length;
      expect(await refusal((await access(authorToken, { agent: { ref: 'bot', action: 'chat' } })).agent)).toBe('agent.not_found');
      expect(await refusal((await access(authorToken, { agent: { ref: 'nowhere', action: 'chat' } })).agent)).toBe('agent.not_found');
      expect(await refusal((await access(editorToken, { agent: { ref: 'bot', action: 'agent.edit' } })).agent)).toBe('access.denied');
      expect(context.denials.slice(before).map((denial) => denial.entry.reason)).toEqual(['agent_invisible', 'agent_invisible', 'agent_role_too_low']);
    });

    it('reads the rights afresh on every request: a grant revoked is gone at the next one', async () => {
      const { ownerScope, members, editorToken } = await world('ra-revoked');
      expect(value((await access(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent).slug).toBe('bot');
      await revokeAgentRole(context, ownerScope, 'bot', members.editor!.id);
      expect(await refusal((await access(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent)).toBe('agent.not_found');
    });
  });

  describe('with an access cache', () => {
    /** The test's context with a listening cache, counting statements as {@link countingContext} does. */
    function cachedContext() {
      const cache = createBearerAccessCache();
      cache.resume();
      const counted = countingContext(context);
      const cached = { ...counted.context, accessCache: cache };
      const read = (secret: string, options: Partial<BearerAccessRequest> = {}) => resolveBearerAccess(cached, { secret, channel: 'http', chooseTenant: chooseTenant(), ...options });
      return { cache, counts: counted.counts, read };
    }

    it('answers a repeated request from memory, with no statement, exactly as the first', async () => {
      const { editorToken } = await world('ra-cached');
      const { counts, read } = cachedContext();
      const first = await read(editorToken, { agent: { ref: 'bot', action: 'chat' } });
      const statements = counts.statements;
      const second = await read(editorToken, { agent: { ref: 'bot', action: 'chat' } });
      expect(counts.statements).toBe(statements);
      expect(second).toEqual(first);
      expect(value(second.agent).slug).toBe('bot');
    });

    it('checks the token against the clock at every use: a cached token that expires is refused', async () => {
      const { owner } = await world('ra-cached-expiry');
      const start = context.now();
      const { secret } = await createUserToken(context, system, { label: 'short', forUserId: owner.id, expiresAt: new Date(start.getTime() + 1000) });
      const { counts, read } = cachedContext();
      await read(secret);
      const statements = counts.statements;
      context.setNow(new Date(start.getTime() + 1000));
      try {
        expect(await codeOf(read(secret))).toBe('token.expired');
        expect(counts.statements).toBe(statements);
      } finally {
        context.setNow(start);
      }
    });

    it('decides on every use: a refused action stays refused, an allowed one allowed, from the same cached rows', async () => {
      const { editorToken } = await world('ra-cached-decision');
      const { read } = cachedContext();
      for (let round = 0; round < 2; round += 1) {
        expect(await refusal((await read(editorToken, { agent: { ref: 'bot', action: 'agent.edit' } })).agent)).toBe('access.denied');
        expect(value((await read(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent).slug).toBe('bot');
      }
    });

    it('records a use at most once a minute, though the cached row still shows the older one', async () => {
      const { owner } = await world('ra-cached-last-used');
      const { secret } = await createUserToken(context, system, { label: 'counted', forUserId: owner.id });
      const lastUsed = async () => (await listUserTokens(context, userActor(owner.id))).find((token) => token.label === 'counted')?.lastUsedAt;
      const { counts, read } = cachedContext();
      const start = context.now();
      try {
        await read(secret);
        await read(secret);
        expect(await lastUsed()).toEqual(start);
        context.setNow(new Date(start.getTime() + 60_000));
        await read(secret);
        expect(await lastUsed()).toEqual(new Date(start.getTime() + 60_000));
        const statements = counts.statements;
        context.setNow(new Date(start.getTime() + 61_000));
        await read(secret);
        expect(counts.statements).toBe(statements);
      } finally {
        context.setNow(start);
      }
    });

    it('keeps nothing of an unknown token: each one reads the database and the cache does not grow', async () => {
      const { cache, counts, read } = cachedContext();
      expect(await codeOf(read('dmpt_unknown'))).toBe('token.invalid');
      expect(await codeOf(read('dmpt_unknown'))).toBe('token.invalid');
      expect(counts.statements).toBe(2);
      expect(cache.size).toBe(0);
    });

    it('reads afresh after a change: a grant revoked and notified is gone at the next request', async () => {
      const { ownerScope, members, editorToken } = await world('ra-cached-revoked');
      const { cache, read } = cachedContext();
      expect(value((await read(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent).slug).toBe('bot');
      await revokeAgentRole(context, ownerScope, 'bot', members.editor!.id);
      cache.invalidate();
      expect(await refusal((await read(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent)).toBe('agent.not_found');
    });

    it('hands every request an agent no caller can change for the next: its parts frozen, its dates its own', async () => {
      const { editorToken } = await world('ra-cached-frozen');
      const { counts, read } = cachedContext();
      const first = value((await read(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent);
      const statements = counts.statements;
      const createdAt = first.createdAt.getTime();
      expect(Reflect.set(first, 'name', 'Changed')).toBe(false);
      expect(Reflect.set(first.config, 'instructions', 'Changed.')).toBe(false);
      expect(Reflect.set(first.effectiveConfig, 'instructions', 'Changed.')).toBe(false);
      first.createdAt.setTime(0);
      first.updatedAt.setTime(0);
      const second = value((await read(editorToken, { agent: { ref: 'bot', action: 'chat' } })).agent);
      expect(counts.statements).toBe(statements);
      expect(second).not.toBe(first);
      expect(second).toMatchObject({ name: 'Bot', config: { instructions: 'Be brief.' }, effectiveConfig: { instructions: 'Be brief.' } });
      expect(second.createdAt.getTime()).toBe(createdAt);
      expect(second.updatedAt.getTime()).not.toBe(0);
    });

    it('hands the host memberships it cannot change for the next request', async () => {
      const { tenant, editorToken } = await world('ra-cached-memberships');
      const { read } = cachedContext();
      const seen: BearerTenantCandidates[] = [];
      const choose = (candidates: BearerTenantCandidates) => {
        seen.push(candidates);
        return chooseTenant()(candidates);
      };
      await read(editorToken, { chooseTenant: choose });
      const memberships = seen[0]!.memberships as TenantMembershipRef[];
      expect(() => memberships.push({ tenantId: 'other', slug: 'other', role: 'owner' })).toThrow(TypeError);
      expect(Reflect.set(memberships[0]!, 'role', 'owner')).toBe(false);
      await read(editorToken, { chooseTenant: choose });
      expect(seen[1]!.memberships).toEqual([{ tenantId: tenant.id, slug: 'ra-cached-memberships', role: 'editor' }]);
    });

    it("gives an agent token's actor dates of its own: changing them cannot move the cached token's expiry", async () => {
      const { ownerScope } = await world('ra-cached-token-dates');
      const start = context.now();
      const { secret } = await createAgentToken(context, ownerScope, 'bot', { label: 'dated', ceiling: ['chat'], expiresAt: new Date(start.getTime() + 60_000) });
      const { counts, read } = cachedContext();
      const first = await read(secret);
      if (first.identity.kind !== 'agent_token' || first.identity.actor.kind !== 'token') throw new Error('not an agent token');
      first.identity.actor.expiresAt?.setTime(0);
      const statements = counts.statements;
      const second = await read(secret);
      expect(counts.statements).toBe(statements);
      expect(second.identity.actor).toMatchObject({ kind: 'token', expiresAt: new Date(start.getTime() + 60_000) });
    });

    it('refuses a cached token once its revocation is notified, as an uncached one', async () => {
      const { owner } = await world('ra-cached-token-revoked');
      const { token, secret } = await createUserToken(context, system, { label: 'revoked', forUserId: owner.id });
      const { cache, read } = cachedContext();
      await read(secret);
      await revokeUserToken(context, userActor(owner.id), token.id);
      cache.invalidate();
      expect(await codeOf(read(secret))).toBe('token.revoked');
      expect(await codeOf(read(secret))).toBe('token.revoked');
    });
  });

  describe('an agent token', () => {
    it('acts in its own tenant on its own agent, within its ceiling; a revoked one is refused', async () => {
      const { tenant, ownerScope, defaultAgentId } = await world('ra-agent-token');
      const { token, secret } = await createAgentToken(context, ownerScope, 'bot', { label: 'site', ceiling: ['chat'] });
      const found = await access(secret, { agent: { ref: 'bot', action: 'chat' } });
      expect(found.identity).toMatchObject({ kind: 'agent_token', tenantId: tenant.id, actor: { kind: 'token', tokenId: token.id } });
      expect(value(found.scope).tenantId).toBe(tenant.id);
      expect(value(found.agent).slug).toBe('bot');
      expect(await refusal((await access(secret, { agent: { ref: defaultAgentId, action: 'chat' } })).agent)).toBe('agent.not_found');
      expect(await refusal((await access(secret, { agent: { ref: 'bot', action: 'agent.edit' } })).agent)).toBe('access.denied');
      expect(await refusal((await access(secret, { tenantRef: 'ra-refused' })).scope)).toBe('tenant.not_found');
      expect(value((await access(secret, { tenantRef: 'ra-agent-token' })).scope).tenantId).toBe(tenant.id);
      await revokeAgentToken(context, ownerScope, 'bot', token.id);
      expect(await codeOf(access(secret))).toBe('token.revoked');
    });
  });
});
