import { describeEachDatabase } from '@data-machine/testkit';
import { addMember, createDataMachineContext, createTenant, createUser, createUserToken, resolveScope, type Actor, type DataMachineContext } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrateAll } from '../../database/migrate';
import { buildApp } from '../app';

const system: Actor = { kind: 'system', channel: 'cli', reason: 'test setup' };

await describeEachDatabase('identity routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let counter = 0;

  beforeAll(async () => {
    await migrateAll(database.db);
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    app = buildApp({
      database: { backend: database.backend, db: database.db, ping: async () => (await sql`select 1`.execute(database.db)).rows.length === 1, close: async () => undefined },
      context,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  /** A new user with a personal access token. */
  async function person(name: string): Promise<{ id: string; token: string }> {
    counter += 1;
    const user = await createUser(context, system, { email: `${name}-${counter}@example.test`, displayName: name });
    const { secret } = await createUserToken(context, system, { label: 'test', forUserId: user.id });
    return { id: user.id, token: secret };
  }

  /** A tenant with an owner and a plain member (role `author`). */
  async function tenant(slug: string) {
    const owner = await person(`${slug}-owner`);
    const member = await person(`${slug}-member`);
    const created = await createTenant(context, system, { slug, name: slug, ownerUserId: owner.id });
    await addMember(context, await resolveScope(context, { kind: 'user', userId: owner.id, channel: 'cli' }, created.tenant.id), { userId: member.id, role: 'author' });
    return { owner, member, tenant: created.tenant, defaultAgent: created.defaultAgent };
  }

  const as = (token: string, headers: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...headers });

  it('refuses a request without a token, with a malformed header, or with an unknown token: 401 with a stable code', async () => {
    expect((await app.inject({ method: 'GET', url: '/agents' })).json()).toMatchObject({ error: { code: 'auth.required' } });
    const malformed = await app.inject({ method: 'GET', url: '/agents', headers: { authorization: 'Basic abc' } });
    expect({ status: malformed.statusCode, code: malformed.json().error.code }).toEqual({ status: 401, code: 'auth.required' });
    const unknown = await app.inject({ method: 'GET', url: '/agents', headers: as('dmpt_nope') });
    expect({ status: unknown.statusCode, code: unknown.json().error.code }).toEqual({ status: 401, code: 'token.invalid' });
  });

  it('says who a personal token acts as, and in which tenants', async () => {
    const { owner, tenant: created } = await tenant('me-tenant');
    const response = await app.inject({ method: 'GET', url: '/me', headers: as(owner.token) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ user: { id: owner.id }, via: 'user', tenants: [{ tenant: { id: created.id, slug: 'me-tenant' }, role: 'owner' }] });
  });

  it('creates, reads, changes and deletes agents, answering bad input with 400 input.invalid naming the field', async () => {
    const { owner } = await tenant('agents-crud');
    const created = await app.inject({ method: 'POST', url: '/agents', headers: as(owner.token), payload: { slug: 'writer', name: 'Writer', config: { instructions: 'Write.' } } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ slug: 'writer', ownerUserId: owner.id, config: { instructions: 'Write.' }, createdAt: expect.stringMatching(/Z$/) });
    const listed = await app.inject({ method: 'GET', url: '/agents', headers: as(owner.token) });
    expect(listed.json().agents.map((agent: { slug: string; role: string }) => [agent.slug, agent.role]).sort()).toEqual([
      ['default', 'admin'],
      ['writer', 'admin'],
    ]);
    const patched = await app.inject({ method: 'PATCH', url: '/agents/writer', headers: as(owner.token), payload: { name: 'Rewriter' } });
    expect(patched.json()).toMatchObject({ name: 'Rewriter' });
    const bad = await app.inject({ method: 'POST', url: '/agents', headers: as(owner.token), payload: { slug: 'Bad Slug!', name: 'x' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'input.invalid', details: { issues: [expect.objectContaining({ path: 'body.slug' })] } });
    const unknownField = await app.inject({ method: 'PATCH', url: '/agents/writer', headers: as(owner.token), payload: { colour: 'red' } });
    expect(unknownField.json().error.code).toBe('input.invalid');
    expect((await app.inject({ method: 'DELETE', url: '/agents/writer', headers: as(owner.token) })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/agents/writer', headers: as(owner.token) })).statusCode).toBe(404);
  });

  it('answers an agent the caller cannot see exactly like a missing one', async () => {
    const { owner, member } = await tenant('agents-hidden');
    await app.inject({ method: 'POST', url: '/agents', headers: as(owner.token), payload: { slug: 'secret-bot', name: 'Secret' } });
    const hidden = await app.inject({ method: 'GET', url: '/agents/secret-bot', headers: as(member.token) });
    const missing = await app.inject({ method: 'GET', url: '/agents/no-such-bot', headers: as(member.token) });
    expect(hidden.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(hidden.json().error.code).toBe(missing.json().error.code);
    expect(hidden.json().error.message.replace('secret-bot', 'X')).toBe(missing.json().error.message.replace('no-such-bot', 'X'));
    const granted = await app.inject({ method: 'PUT', url: `/agents/secret-bot/grants/${member.id}`, headers: as(owner.token), payload: { role: 'viewer' } });
    expect(granted.json()).toMatchObject({ userId: member.id, role: 'viewer' });
    expect((await app.inject({ method: 'GET', url: '/agents/secret-bot', headers: as(member.token) })).statusCode).toBe(200);
    // A viewer may look, not change.
    expect((await app.inject({ method: 'PATCH', url: '/agents/secret-bot', headers: as(member.token), payload: { name: 'Mine' } })).statusCode).toBe(403);
  });

  it("grants a member named by email in the path, answering the member's user id", async () => {
    const { owner, member } = await tenant('agents-grant-email');
    await app.inject({ method: 'POST', url: '/agents', headers: as(owner.token), payload: { slug: 'mailed-bot', name: 'Mailed' } });
    const email = ((await app.inject({ method: 'GET', url: '/me', headers: as(member.token) })).json() as { user: { email: string } }).user.email;
    const granted = await app.inject({ method: 'PUT', url: `/agents/mailed-bot/grants/${encodeURIComponent(email)}`, headers: as(owner.token), payload: { role: 'operator' } });
    expect(granted.json()).toMatchObject({ userId: member.id, role: 'operator' });
    const stranger = await app.inject({ method: 'PUT', url: '/agents/mailed-bot/grants/nobody%40example.test', headers: as(owner.token), payload: { role: 'operator' } });
    expect([stranger.statusCode, stranger.json().error.code]).toEqual([404, 'membership.not_found']);
  });

  it('makes a user of several tenants name one, and hides tenants they do not belong to', async () => {
    const first = await tenant('tenant-choice-a');
    const second = await tenant('tenant-choice-b');
    await addMember(context, await resolveScope(context, { kind: 'user', userId: second.owner.id, channel: 'cli' }, second.tenant.id), { userId: first.owner.id, role: 'editor' });
    const ambiguous = await app.inject({ method: 'GET', url: '/agents', headers: as(first.owner.token) });
    expect({ status: ambiguous.statusCode, code: ambiguous.json().error.code }).toEqual({ status: 400, code: 'tenant.required' });
    const named = await app.inject({ method: 'GET', url: '/agents', headers: as(first.owner.token, { 'x-tenant': 'tenant-choice-b' }) });
    expect(named.statusCode).toBe(200);
    const foreign = await app.inject({ method: 'GET', url: '/agents', headers: as(second.member.token, { 'x-tenant': 'tenant-choice-a' }) });
    const nonexistent = await app.inject({ method: 'GET', url: '/agents', headers: as(second.member.token, { 'x-tenant': 'tenant-nowhere' }) });
    expect([foreign.statusCode, foreign.json().error.code]).toEqual([404, 'tenant.not_found']);
    expect([nonexistent.statusCode, nonexistent.json().error.code]).toEqual([404, 'tenant.not_found']);
  });

  it('issues an agent token once, lets it act within its ceiling only, and refuses it once revoked', async () => {
    const { owner, tenant: created } = await tenant('agent-token-http');
    await app.inject({ method: 'POST', url: '/agents', headers: as(owner.token), payload: { slug: 'chatty', name: 'Chatty' } });
    const issued = await app.inject({ method: 'POST', url: '/agents/chatty/tokens', headers: as(owner.token), payload: { label: 'widget', ceiling: ['chat'] } });
    expect(issued.statusCode).toBe(201);
    const { token, secret } = issued.json() as { token: { id: string; prefix: string }; secret: string };
    expect(secret.startsWith(token.prefix)).toBe(true);
    const listed = await app.inject({ method: 'GET', url: '/agents/chatty/tokens', headers: as(owner.token) });
    expect(listed.body).not.toContain(secret);
    expect((await app.inject({ method: 'GET', url: '/agents/chatty', headers: as(secret) })).statusCode).toBe(200);
    // Its own tenant, named or not; no other.
    expect((await app.inject({ method: 'GET', url: '/agents/chatty', headers: as(secret, { 'x-tenant': created.slug }) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/agents/chatty', headers: as(secret, { 'x-tenant': 'me-tenant' }) })).statusCode).toBe(404);
    // The ceiling lists chat only: no editing, even though its owner may.
    expect((await app.inject({ method: 'PATCH', url: '/agents/chatty', headers: as(secret), payload: { name: 'Hacked' } })).statusCode).toBe(403);
    await app.inject({ method: 'DELETE', url: `/agents/chatty/tokens/${token.id}`, headers: as(owner.token) });
    const revoked = await app.inject({ method: 'GET', url: '/agents/chatty', headers: as(secret) });
    expect([revoked.statusCode, revoked.json().error.code]).toEqual([401, 'token.revoked']);
  });

  it('creates, lists and revokes personal tokens; a revoked one stops working', async () => {
    const user = await person('pat-http');
    const created = await app.inject({ method: 'POST', url: '/me/tokens', headers: as(user.token), payload: { label: 'second' } });
    expect(created.statusCode).toBe(201);
    const { token, secret } = created.json() as { token: { id: string }; secret: string };
    expect((await app.inject({ method: 'GET', url: '/me/tokens', headers: as(secret) })).json().tokens).toHaveLength(2);
    const badExpiry = await app.inject({ method: 'POST', url: '/me/tokens', headers: as(user.token), payload: { label: 'x', expiresAt: 'tomorrow' } });
    expect(badExpiry.json().error).toMatchObject({ code: 'input.invalid', details: { issues: [expect.objectContaining({ path: 'body.expiresAt' })] } });
    await app.inject({ method: 'DELETE', url: `/me/tokens/${token.id}`, headers: as(user.token) });
    expect((await app.inject({ method: 'GET', url: '/me', headers: as(secret) })).json().error.code).toBe('token.revoked');
  });

  it('serves the OpenAPI document with every route and its bearer security', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { openapi: string; paths: Record<string, Record<string, { security?: unknown }>> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/me', '/me/tokens', '/agents', '/agents/{agent}', '/agents/{agent}/grants/{userId}', '/agents/{agent}/tokens', '/tenants', '/tenant']));
    expect(document.paths['/agents']?.post?.security).toEqual([{ bearer: [] }]);
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});
