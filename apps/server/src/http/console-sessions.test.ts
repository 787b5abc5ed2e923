import { describeEachDatabase } from '@data-machine/testkit';
import { issueLoginLink, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { as, person, startApp, tenantWorld } from '../../test/support/http-world';
import { parseCookies } from './cookies';

const secretKey = 's'.repeat(43);
const policy = { idleMs: 30 * 60_000, absoluteMs: 24 * 3_600_000 };

/** The cookies a response sets, by name, with their attributes. */
function setCookies(response: LightMyRequestResponse): Record<string, string> {
  const header = response.headers['set-cookie'];
  const lines = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line]));
}

await describeEachDatabase<DataMachineDatabase>('console sessions over HTTP', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let setNow: (instant: Date) => void;
  let clock = Date.parse('2026-12-01T08:00:00.000Z');

  beforeAll(async () => {
    ({ app, context, setNow } = await startApp(database, { console: { secretKey, secureCookies: true, policy } }));
    setNow(new Date(clock));
  });
  afterAll(async () => {
    await app.close();
  });
  const later = (ms: number) => {
    clock += ms;
    setNow(new Date(clock));
  };

  /** Signs `email` in with a fresh login link; resolves to the request headers of the session (cookie and CSRF token). */
  async function signIn(email: string): Promise<{ cookie: string; csrf: string; response: LightMyRequestResponse }> {
    const { token } = issueLoginLink({ email, secretKey, now: new Date(clock) });
    const response = await app.inject({ method: 'POST', url: '/console/sessions', payload: { loginToken: token } });
    const cookies = setCookies(response);
    const session = parseCookies(cookies.dm_session?.split(';')[0]).get('dm_session') ?? '';
    return { cookie: `dm_session=${session}`, csrf: response.json().csrfToken, response };
  }

  it('signs in with a login link: an httpOnly, SameSite=Strict, Secure session cookie and a readable CSRF cookie', async () => {
    const world = await tenantWorld(context, 'console-link');
    const owner = await context.db.selectFrom('dm_users').select('email').where('id', '=', world.owner.id).executeTakeFirstOrThrow();
    const { response, cookie } = await signIn(owner.email);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ user: { id: world.owner.id, email: owner.email }, csrfToken: expect.any(String), idleTimeoutSeconds: 1800 });
    const cookies = setCookies(response);
    expect(cookies.dm_session).toMatch(/^dm_session=dmcs_[^;]+; Path=\/; Max-Age=86400; SameSite=Strict; HttpOnly; Secure$/);
    expect(cookies.dm_csrf).toMatch(/^dm_csrf=[^;]+; Path=\/; Max-Age=86400; SameSite=Strict; Secure$/);
    const me = await app.inject({ method: 'GET', url: '/me', headers: { cookie } });
    expect([me.statusCode, me.json().user.id, me.json().via]).toEqual([200, world.owner.id, 'user']);
  });

  it('accepts a login link once only', async () => {
    const world = await tenantWorld(context, 'console-once');
    const { email } = await context.db.selectFrom('dm_users').select('email').where('id', '=', world.owner.id).executeTakeFirstOrThrow();
    const { token } = issueLoginLink({ email, secretKey, now: new Date(clock) });
    const first = await app.inject({ method: 'POST', url: '/console/sessions', payload: { loginToken: token } });
    const second = await app.inject({ method: 'POST', url: '/console/sessions', payload: { loginToken: token } });
    expect([first.statusCode, second.statusCode, second.json().error.code]).toEqual([201, 401, 'login_link.used']);
    expect(second.headers['set-cookie']).toBeUndefined();
  });

  it('refuses an expired login link, and a forged one', async () => {
    const user = await person(context, 'console-expired');
    const { email } = await context.db.selectFrom('dm_users').select('email').where('id', '=', user.id).executeTakeFirstOrThrow();
    const { token } = issueLoginLink({ email, secretKey, now: new Date(clock), lifetimeMs: 60_000 });
    later(61_000);
    const expired = await app.inject({ method: 'POST', url: '/console/sessions', payload: { loginToken: token } });
    expect([expired.statusCode, expired.json().error.code]).toEqual([401, 'login_link.expired']);
    const forged = issueLoginLink({ email, secretKey: 'f'.repeat(43), now: new Date(clock) });
    const refused = await app.inject({ method: 'POST', url: '/console/sessions', payload: { loginToken: forged.token } });
    expect([refused.statusCode, refused.json().error.code]).toEqual([401, 'login_link.invalid']);
  });

  it('signs in with a personal access token, but not with an agent token nor with both or neither', async () => {
    const user = await person(context, 'console-token');
    const signedIn = await app.inject({ method: 'POST', url: '/console/sessions', payload: { token: user.token } });
    expect([signedIn.statusCode, signedIn.json().user.id]).toEqual([201, user.id]);
    const bad = await app.inject({ method: 'POST', url: '/console/sessions', payload: { token: 'dmpt_nope' } });
    expect([bad.statusCode, bad.json().error.code]).toEqual([401, 'token.invalid']);
    const world = await tenantWorld(context, 'console-agent-token');
    const agentToken = await app.inject({ method: 'POST', url: '/agents/default/tokens', headers: as(world.owner.token), payload: { label: 'bot', ceiling: ['chat'] } });
    const agent = await app.inject({ method: 'POST', url: '/console/sessions', payload: { token: agentToken.json().secret } });
    expect([agent.statusCode, agent.json().error.code]).toEqual([403, 'access.denied']);
    const neither = await app.inject({ method: 'POST', url: '/console/sessions', payload: {} });
    const both = await app.inject({ method: 'POST', url: '/console/sessions', payload: { token: user.token, loginToken: 'dmll_x' } });
    expect([neither.statusCode, neither.json().error.code, both.statusCode]).toEqual([400, 'input.invalid', 400]);
  });

  it('refuses a change made with the cookie when the CSRF token is missing or wrong, and accepts it with the token', async () => {
    const world = await tenantWorld(context, 'console-csrf');
    const { email } = await context.db.selectFrom('dm_users').select('email').where('id', '=', world.owner.id).executeTakeFirstOrThrow();
    const { cookie, csrf } = await signIn(email);
    const body = { slug: 'helper', name: 'Helper' };
    const missing = await app.inject({ method: 'POST', url: '/agents', headers: { cookie }, payload: body });
    const wrong = await app.inject({ method: 'POST', url: '/agents', headers: { cookie, 'x-csrf-token': 'not-it' }, payload: body });
    expect([missing.statusCode, missing.json().error.code, wrong.statusCode, wrong.json().error.code]).toEqual([403, 'csrf.invalid', 403, 'csrf.invalid']);
    const listed = await app.inject({ method: 'GET', url: '/agents', headers: { cookie } });
    expect(listed.json().agents.map((agent: { slug: string }) => agent.slug)).toEqual(['default']);
    const created = await app.inject({ method: 'POST', url: '/agents', headers: { cookie, 'x-csrf-token': csrf }, payload: body });
    expect([created.statusCode, created.json().slug]).toEqual([201, 'helper']);
  });

  it('expires a session left idle, and keeps one in use', async () => {
    const world = await tenantWorld(context, 'console-idle');
    const { email } = await context.db.selectFrom('dm_users').select('email').where('id', '=', world.owner.id).executeTakeFirstOrThrow();
    const idle = await signIn(email);
    const busy = await signIn(email);
    later(20 * 60_000);
    await app.inject({ method: 'GET', url: '/me', headers: { cookie: busy.cookie } });
    later(20 * 60_000);
    const kept = await app.inject({ method: 'GET', url: '/me', headers: { cookie: busy.cookie } });
    const expired = await app.inject({ method: 'GET', url: '/me', headers: { cookie: idle.cookie } });
    expect([kept.statusCode, expired.statusCode, expired.json().error.code]).toEqual([200, 401, 'console_session.expired']);
  });

  it('signs out: the session is revoked and its cookies cleared; sign-out needs the CSRF token too', async () => {
    const world = await tenantWorld(context, 'console-out');
    const { email } = await context.db.selectFrom('dm_users').select('email').where('id', '=', world.owner.id).executeTakeFirstOrThrow();
    const { cookie, csrf } = await signIn(email);
    const forged = await app.inject({ method: 'DELETE', url: '/console/session', headers: { cookie } });
    expect([forged.statusCode, forged.json().error.code]).toEqual([403, 'csrf.invalid']);
    const out = await app.inject({ method: 'DELETE', url: '/console/session', headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.statusCode).toBe(204);
    expect(setCookies(out).dm_session).toMatch(/^dm_session=; Path=\/; Max-Age=0;/);
    const after = await app.inject({ method: 'GET', url: '/me', headers: { cookie } });
    expect([after.statusCode, after.json().error.code]).toEqual([401, 'console_session.revoked']);
    const bearer = await app.inject({ method: 'DELETE', url: '/console/session', headers: as(world.owner.token) });
    expect([bearer.statusCode, bearer.json().error.code]).toEqual([401, 'auth.required']);
  });

  it('lets a bearer token win over a cookie, so an API client never needs a CSRF token', async () => {
    const world = await tenantWorld(context, 'console-bearer');
    const response = await app.inject({ method: 'POST', url: '/agents', headers: { ...as(world.owner.token), cookie: 'dm_session=dmcs_stale' }, payload: { slug: 'api', name: 'API' } });
    expect(response.statusCode).toBe(201);
  });
});
