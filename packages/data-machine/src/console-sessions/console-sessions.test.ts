import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { codeOf, migratedContext, newUser, system, userActor, type TestContext } from '../../test/support/identity-fixture';
import { hashTokenSecret } from '../tokens/token-secret';
import { authenticateConsoleSession, createConsoleSession, revokeConsoleSession, type ConsoleSessionPolicy } from './console-session-repository';
import { issueLoginLink, redeemLoginLink } from './login-link';

const secretKey = 'k'.repeat(43);
const policy: ConsoleSessionPolicy = { idleMs: 30 * 60_000, absoluteMs: 24 * 3_600_000 };

await describeEachDatabase<DataMachineDatabase>('console sign-in', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });
  const later = (ms: number) => context.setNow(new Date(context.now().getTime() + ms));

  it('redeems a login link once, as the user its email names', async () => {
    const user = await newUser(context, 'link-once');
    const { token } = issueLoginLink({ email: user.email, secretKey, now: context.now() });
    expect(token).toMatch(/^dmll_/);
    expect(await redeemLoginLink(context, token, secretKey, 'http')).toEqual({ kind: 'user', userId: user.id, channel: 'http' });
    expect(await codeOf(redeemLoginLink(context, token, secretKey, 'http'))).toBe('login_link.used');
  });

  it('refuses an expired login link', async () => {
    const user = await newUser(context, 'link-expired');
    const { token } = issueLoginLink({ email: user.email, secretKey, now: context.now(), lifetimeMs: 60_000 });
    later(60_000);
    expect(await codeOf(redeemLoginLink(context, token, secretKey, 'http'))).toBe('login_link.expired');
  });

  it('refuses a tampered, foreign-key or unknown-user login link as invalid', async () => {
    const user = await newUser(context, 'link-forged');
    const { token } = issueLoginLink({ email: user.email, secretKey, now: context.now() });
    const [payload, signature] = token.slice('dmll_'.length).split('.') as [string, string];
    const otherEmail = Buffer.from(Buffer.from(payload, 'base64url').toString('utf8').replace('link-forged', 'someone-else'), 'utf8').toString('base64url');
    expect(await codeOf(redeemLoginLink(context, `dmll_${otherEmail}.${signature}`, secretKey, 'http'))).toBe('login_link.invalid');
    expect(await codeOf(redeemLoginLink(context, token, 'x'.repeat(43), 'http'))).toBe('login_link.invalid');
    expect(await codeOf(redeemLoginLink(context, 'dmll_nonsense', secretKey, 'http'))).toBe('login_link.invalid');
    const nobody = issueLoginLink({ email: 'nobody@example.test', secretKey, now: context.now() });
    expect(await codeOf(redeemLoginLink(context, nobody.token, secretKey, 'http'))).toBe('login_link.invalid');
  });

  it('stores only hashes of a session secret and its CSRF token, and checks the CSRF token', async () => {
    const user = await newUser(context, 'session-hash');
    const { session, secret, csrfToken } = await createConsoleSession(context, userActor(user.id), { policy });
    const stored = await database.db.selectFrom('dm_console_sessions').selectAll().where('id', '=', session.id).executeTakeFirstOrThrow();
    expect([stored.secret_hash, stored.csrf_hash]).toEqual([hashTokenSecret(secret), hashTokenSecret(csrfToken)]);
    const authenticated = await authenticateConsoleSession(context, secret, 'http', policy);
    expect(authenticated.actor).toEqual({ kind: 'user', userId: user.id, channel: 'http' });
    expect([authenticated.csrfMatches(csrfToken), authenticated.csrfMatches('wrong'), authenticated.csrfMatches('')]).toEqual([true, false, false]);
  });

  it('expires a session idle for longer than the idle limit, and keeps one that is used', async () => {
    const user = await newUser(context, 'session-idle');
    const used = await createConsoleSession(context, userActor(user.id), { policy });
    const idle = await createConsoleSession(context, userActor(user.id), { policy });
    later(20 * 60_000);
    await authenticateConsoleSession(context, used.secret, 'http', policy);
    later(20 * 60_000);
    expect((await authenticateConsoleSession(context, used.secret, 'http', policy)).actor.userId).toBe(user.id);
    expect(await codeOf(authenticateConsoleSession(context, idle.secret, 'http', policy))).toBe('console_session.expired');
  });

  it('expires a session at its absolute expiry however busy it is', async () => {
    const user = await newUser(context, 'session-absolute');
    const { secret } = await createConsoleSession(context, userActor(user.id), { policy: { idleMs: policy.absoluteMs, absoluteMs: 3_600_000 } });
    later(3_600_000);
    expect(await codeOf(authenticateConsoleSession(context, secret, 'http', { idleMs: policy.absoluteMs, absoluteMs: 3_600_000 }))).toBe('console_session.expired');
  });

  it('refuses a revoked or unknown session, and a session for anyone but a user', async () => {
    const user = await newUser(context, 'session-revoked');
    const { secret } = await createConsoleSession(context, userActor(user.id), { policy });
    await revokeConsoleSession(context, secret);
    expect(await codeOf(authenticateConsoleSession(context, secret, 'http', policy))).toBe('console_session.revoked');
    expect(await codeOf(authenticateConsoleSession(context, 'dmcs_unknown', 'http', policy))).toBe('console_session.invalid');
    expect(await codeOf(createConsoleSession(context, system))).toBe('access.denied');
  });
});
