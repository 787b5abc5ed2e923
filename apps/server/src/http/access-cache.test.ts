import { connect, describeEachDatabase } from '@data-machine/testkit';
import { accessChangeChannel, createDataMachineContext, revokeAgentRole, signApprovalLink, type BearerAccessCache, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AccessChangeRecorder } from '../../test/support/access-change-recorder';
import { as, deliverWebhook, digestPipeline, grant, startApp, tenantWorld, testSecretKey } from '../../test/support/http-world';

/** A pipeline fed by its flow's inbound webhook. */
const inboundPipeline = {
  slug: 'inbox',
  name: 'Inbox',
  steps: [
    { key: 'inbox', type: 'fetch', handler: 'inbound_webhook' },
    { key: 'store', type: 'publish', handler: 'records', config: { collection: 'inbox' } },
  ],
};

await describeEachDatabase<DataMachineDatabase>('bearer access cached between requests, over HTTP', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let cache: BearerAccessCache;
  let accessChanges: AccessChangeRecorder;
  beforeAll(async () => {
    ({ app, context, accessChanges } = await startApp(database, { accessCache: true }));
    cache = context.accessCache!;
  });
  afterAll(() => app.close());

  const getAgent = async (token: string) => {
    const response = await app.inject({ method: 'GET', url: '/agents/default', headers: as(token) });
    return { status: response.statusCode, code: response.statusCode === 200 ? undefined : (response.json() as { error: { code: string } }).error.code };
  };

  /** A tenant whose author is the default agent's viewer, with the author's access to it in the cache. */
  async function cachedViewer(slug: string) {
    const world = await tenantWorld(context, slug, ['author']);
    const viewer = world.members.author!;
    await grant(context, world, world.defaultAgent.slug, viewer.id, 'viewer');
    expect(await getAgent(viewer.token)).toEqual({ status: 200, code: undefined });
    expect(await getAgent(viewer.token)).toEqual({ status: 200, code: undefined });
    expect(cache.size).toBeGreaterThan(0);
    return { world, viewer };
  }

  it('refuses a token revoked over HTTP at the very next request', async () => {
    const { world } = await cachedViewer('cache-revoke');
    const created = await app.inject({ method: 'POST', url: '/me/tokens', headers: as(world.owner.token), payload: { label: 'second' } });
    const { token, secret } = created.json() as { token: { id: string }; secret: string };
    expect(await getAgent(secret)).toEqual({ status: 200, code: undefined });
    expect(await getAgent(secret)).toEqual({ status: 200, code: undefined });
    const revoked = await app.inject({ method: 'DELETE', url: `/me/tokens/${token.id}`, headers: as(world.owner.token) });
    expect(revoked.statusCode).toBe(200);
    expect(await getAgent(secret)).toEqual({ status: 401, code: 'token.revoked' });
  });

  it('hides the agent at the very next request once its grant is removed over HTTP', async () => {
    const { world, viewer } = await cachedViewer('cache-grant');
    const removed = await app.inject({ method: 'DELETE', url: `/agents/${world.defaultAgent.slug}/grants/${viewer.id}`, headers: as(world.owner.token) });
    expect(removed.statusCode).toBe(204);
    expect(await getAgent(viewer.token)).toEqual({ status: 404, code: 'agent.not_found' });
  });

  it('sees a grant removed through another connection once its notification arrives', async () => {
    const { world, viewer } = await cachedViewer('cache-elsewhere');
    // Another process: its own connection (on PGlite, the one database, written past this app).
    const other: Kysely<DataMachineDatabase> = database.database.url === undefined ? database.db : (connect(database.database.url) as Kysely<DataMachineDatabase>);
    try {
      const from = accessChanges.events.length;
      await revokeAgentRole(createDataMachineContext({ db: other, logger: { warn: () => undefined } }), world.ownerScope, world.defaultAgent.slug, viewer.id);
      await accessChanges.next((event) => event.kind === 'changed' && event.table === 'dm_agent_grants', from);
      expect(await getAgent(viewer.token)).toEqual({ status: 404, code: 'agent.not_found' });
    } finally {
      if (other !== database.db) await other.destroy();
    }
  });

  /** Waits until every notification of the set-up is heard (they arrive in commit order, this one last), then fills the cache again; its size. */
  async function settledCache(token: string): Promise<number> {
    const sentFrom = accessChanges.events.length;
    await sql`select pg_notify(${accessChangeChannel}, 'flushed')`.execute(database.db);
    await accessChanges.next((event) => event.kind === 'changed' && event.table === 'flushed', sentFrom);
    expect(await getAgent(token)).toEqual({ status: 200, code: undefined });
    expect(cache.size).toBeGreaterThan(0);
    return cache.size;
  }

  it('keeps the cache through reads and chat turns, and empties it after any other write, before the database says anything', async () => {
    const { world, viewer } = await cachedViewer('cache-kept');
    const size = await settledCache(viewer.token);
    // Without a model the turn is refused after its authorization (503), the route's `accessUnchanged` all the same.
    const turn = await app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(world.owner.token), payload: { message: 'Hi' } });
    expect(turn.statusCode).toBe(503);
    expect(cache.size).toBeGreaterThanOrEqual(size);
    // A pipeline is no table of the change feed: only the request's end empties the cache.
    const created = await app.inject({ method: 'POST', url: `/agents/${world.defaultAgent.slug}/pipelines`, headers: as(world.owner.token), payload: digestPipeline });
    expect(created.statusCode).toBe(201);
    expect(cache.size).toBe(0);
  });

  it('keeps the cache through signed webhook deliveries and approval links, and a token revoked afterwards still empties it', async () => {
    const { world, viewer } = await cachedViewer('cache-hook');
    const agent = world.defaultAgent.slug;
    const owner = as(world.owner.token);
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: owner, payload: inboundPipeline })).statusCode).toBe(201);
    const flow = await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: owner, payload: { pipeline: 'inbox', slug: 'inbox', name: 'Inbox' } });
    const flowId = (flow.json() as { id: string }).id;
    const { secret: hookSecret } = (await app.inject({ method: 'POST', url: `/agents/${agent}/flows/inbox/webhook/rotate`, headers: owner })).json() as { secret: string };
    const created = (await app.inject({ method: 'POST', url: '/me/tokens', headers: as(viewer.token), payload: { label: 'second' } })).json() as { token: { id: string }; secret: string };
    const size = await settledCache(viewer.token);

    const delivered = await deliverWebhook(app, flowId, hookSecret, '{"order":7}');
    expect(delivered.statusCode).toBe(202);
    expect(cache.size).toBe(size);
    // A signed approval link decides an action, never access (this one names no action: refused after the link's check).
    const link = signApprovalLink(testSecretKey, { tenantId: world.tenant.id, actionId: 'act_missing', decision: 'accept', expiresAt: new Date(Date.now() + 60_000) });
    const decided = await app.inject({ method: 'POST', url: '/approval-links', payload: { token: link } });
    expect([decided.statusCode, (decided.json() as { error: { code: string } }).error.code]).toEqual([404, 'approval.not_found']);
    expect(cache.size).toBe(size);

    expect(await getAgent(created.secret)).toEqual({ status: 200, code: undefined });
    const revoked = await app.inject({ method: 'DELETE', url: `/me/tokens/${created.token.id}`, headers: as(viewer.token) });
    expect(revoked.statusCode).toBe(200);
    expect(cache.size).toBe(0);
    expect(await getAgent(created.secret)).toEqual({ status: 401, code: 'token.revoked' });
  });
});
