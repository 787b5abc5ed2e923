import { describeEachDatabase, feedFixtures, startHttpFixture, type HttpFixture } from '@data-machine/testkit';
import { findUser, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliRunner } from '../../../test/support/cli-runner';
import { as, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>("a tenant's allowance for private addresses", (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let feeds: HttpFixture;
  beforeAll(async () => {
    feeds = await startHttpFixture();
    feeds.route('GET', '/feed.xml', () => ({ headers: { 'content-type': 'application/rss+xml' }, body: feedFixtures.rss2 }));
    // No server-wide override: each tenant reaches what its own setting allows.
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app?.close();
    await feeds?.close();
  });

  const { cli, failure } = cliRunner(() => context);

  async function call(method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: Record<string, unknown>) {
    const response = await app.inject({ method, url, headers: as(token), ...(payload === undefined ? {} : { payload }) });
    return { status: response.statusCode, json: response.json() as Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } } };
  }

  /** A tenant whose default agent reads the local feed (127.0.0.1) in flow `news`, and the route testing that step. */
  async function feedTenant(slug: string) {
    const world = await tenantWorld(context, slug);
    const agent = world.defaultAgent.slug;
    const steps = [{ key: 'feed', type: 'fetch', handler: 'rss', config: { url: `${feeds.url}/feed.xml` } }];
    expect((await call('POST', `/agents/${agent}/pipelines`, world.owner.token, { slug: 'news', name: 'News', steps })).status).toBe(201);
    expect((await call('POST', `/agents/${agent}/flows`, world.owner.token, { pipeline: 'news', slug: 'news', name: 'News' })).status).toBe(201);
    return { world, test: () => call('POST', `/agents/${agent}/flows/news/steps/feed/test`, world.owner.token) };
  }

  it('refuses the step test of a tenant without the allowance: the loopback feed is not reached', { timeout: 30_000 }, async () => {
    const { test } = await feedTenant('net-step-refused');
    const refused = await test();
    expect(refused).toMatchObject({ status: 200, json: { handler: 'rss', supported: true, ok: false } });
    expect(String(refused.json.message)).toContain('which this tenant does not allow');
  });

  it('reaches the feed once the operator allows the tenant with the CLI; another tenant on the same server stays refused', { timeout: 30_000 }, async () => {
    const allowed = await feedTenant('net-step-allowed');
    const other = await feedTenant('net-step-other');
    expect(await cli('tenants', 'set', 'net-step-allowed', '--allow-private-addresses=true', '--as', 'system')).toBe(
      'net-step-allowed: handlers may reach private, loopback and link-local addresses\n',
    );
    expect(await allowed.test()).toEqual({ status: 200, json: { handler: 'rss', supported: true, ok: true } });
    expect(await other.test()).toMatchObject({ status: 200, json: { ok: false } });
    // Withdrawn, it is refused again.
    await cli('tenants', 'set', 'net-step-allowed', '--allow-private-addresses', 'false', '--as', 'system');
    expect(await allowed.test()).toMatchObject({ status: 200, json: { ok: false } });
  });

  it('shows the setting on the tenant and refuses to set it over HTTP, even for the owner (403 access.denied, nothing changed)', async () => {
    const { world } = await feedTenant('net-http');
    const patched = await call('PATCH', '/tenant', world.owner.token, { allowPrivateAddresses: true });
    expect(patched).toMatchObject({ status: 403, json: { error: { code: 'access.denied', details: { reason: 'system_only' } } } });
    expect(await call('PATCH', '/tenant', world.owner.token, { name: 'Renamed' })).toMatchObject({ status: 200, json: { name: 'Renamed', allowPrivateAddresses: false } });
    const me = await call('GET', '/me', world.owner.token);
    expect(me.json.tenants).toEqual([expect.objectContaining({ tenant: expect.objectContaining({ slug: 'net-http', allowPrivateAddresses: false }) })]);
  });

  it("refuses the CLI switch to anyone but the system principal, and reads it as the operator's usage", async () => {
    const { world } = await feedTenant('net-cli');
    const owner = await findUser(context, world.owner.id);
    expect(await failure('tenants', 'set', 'net-cli', '--allow-private-addresses', 'true', '--as', owner?.email ?? '')).toBe('access.denied');
    expect(await failure('tenants', 'set', 'net-cli', '--allow-private-addresses', 'yes', '--as', 'system')).toBe('usage: --allow-private-addresses must be one of true, false (got "yes")');
    expect(await failure('tenants', 'set', 'nope', '--allow-private-addresses', 'true', '--as', 'system')).toBe('tenant.not_found');
    const shown = JSON.parse(await cli('tenants', 'set', 'net-cli', '--allow-private-addresses', 'false', '--as', 'system', '--json')) as { slug: string; allowPrivateAddresses: boolean };
    expect(shown).toMatchObject({ slug: 'net-cli', allowPrivateAddresses: false });
  });
});
