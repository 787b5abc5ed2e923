import { describeEachDatabase, startHttpFixture, startWordPressServer, type HttpFixture, type WordPressServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handlerFailureOf } from '../../../test/support/handler-fixture';
import { migratedContext, system, type TestContext } from '../../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../../test/support/job-engine-fixture';
import { flowWorld, type FlowWorld } from '../../../test/support/pipeline-fixture';
import { undoToEnd } from '../../../test/support/undo-fixture';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { startFlowRun } from '../../engine/flow-run';
import { createHandlerSteps } from '../../engine/handler-steps';
import type { JobEngine } from '../../engine/job-engine';
import { createFlow } from '../../flows/flow-repository';
import { createPipeline } from '../../pipelines/pipeline-repository';
import { resolveScope } from '../../scope/scope';
import { updateTenantSettings } from '../../tenants/tenant-repository';
import { getUndoReport } from '../../undo/undo-repository';
import { createUndoWorker, type UndoWorker } from '../../undo/undo-worker';
import { createHandlerRegistry, type HandlerRegistry } from '../handler-registry';
import { httpJsonHandler } from '../http-json/http-json-handler';
import { jsonItemsHandler } from '../json-items-handler';
import { createWordPressHandler } from '../wordpress/wordpress-handler';
import { createHandlerNetwork, httpForTenant, type HandlerNetwork } from './handler-network';

describe('handler network', () => {
  let fixture: HttpFixture;
  beforeAll(async () => {
    fixture = await startHttpFixture();
    fixture.route('GET', '/ping', () => ({ body: { pong: true } }));
  });
  afterAll(() => fixture.close());

  it('refuses loopback to a tenant without the allowance and reaches it for one with it', async () => {
    const network = createHandlerNetwork({ timeoutMs: 5_000 });
    try {
      expect(await handlerFailureOf(network.clientFor(false).request({ url: `${fixture.url}/ping` }))).toEqual({ code: 'handler.address_refused', retryable: false });
      expect((await network.clientFor(true).request({ url: `${fixture.url}/ping` })).json()).toEqual({ pong: true });
      expect(network.clientFor(true)).toBe(network.clientFor(true));
    } finally {
      await network.close();
    }
  });

  it('lets every tenant through with the server-wide override', async () => {
    const network = createHandlerNetwork({ allowPrivateAddressesForEveryTenant: true, timeoutMs: 5_000 });
    try {
      expect((await network.clientFor(false).request({ url: `${fixture.url}/ping` })).status).toBe(200);
      expect(network.clientFor(false)).toBe(network.clientFor(true));
    } finally {
      await network.close();
    }
  });

  it('hands a single client to every tenant as it is: that client alone decides', async () => {
    const network = createHandlerNetwork();
    const single = network.clientFor(false);
    expect([httpForTenant(single, true), httpForTenant(single, false)]).toEqual([single, single]);
    expect(httpForTenant(network, false)).toBe(single);
    await network.close();
  });
});

const password = 'abcd efgh ijkl mnop qrst uvwx';

await describeEachDatabase<DataMachineDatabase>("handler calls under their tenant's allowance for private addresses", (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let api: HttpFixture;
  let wordpress: WordPressServer;
  let network: HandlerNetwork;
  let handlers: HandlerRegistry;
  let undos: UndoWorker;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    api = await startHttpFixture();
    wordpress = await startWordPressServer();
    // No override: what a tenant reaches is its own setting's doing.
    network = createHandlerNetwork({ timeoutMs: 5_000 });
    handlers = createHandlerRegistry([jsonItemsHandler, httpJsonHandler, createWordPressHandler(context)]);
    const secrets = { forStep: async () => password };
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, handlers, createHandlerSteps(handlers, { http: network, secrets })));
    undos = createUndoWorker({ context, engine, handlers, http: network, secrets });
    await undos.start();
  });
  afterAll(async () => {
    await undos?.stop();
    await stop?.();
    await network?.close();
    await wordpress?.close();
    await api?.close();
  });
  beforeEach(() => api.reset());
  // Each test makes tenants and runs jobs through the worker: seconds on a busy machine, not the default 5.

  const allow = async (world: FlowWorld, allowPrivateAddresses: boolean) =>
    updateTenantSettings(context, await resolveScope(context, system, world.tenant.id), { allowPrivateAddresses });

  /** A tenant whose agent `bot` fetches the local API (127.0.0.1) with http_json in flow `pull`. */
  async function fetchingTenant(slug: string): Promise<{ world: FlowWorld; flowId: string }> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.owner, handlers, 'bot', { slug: 'pull', name: 'Pull', steps: [{ key: 'fetch', type: 'fetch', handler: 'http_json' }] });
    const flow = await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'pull', slug: 'pull', name: 'Pull', stepConfig: { fetch: { handlerConfig: { url: `${api.url}/items` } } } });
    return { world, flowId: flow.id };
  }

  const runToEnd = async (world: FlowWorld, flowId: string) => {
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenant.id, flowId, source: 'manual' });
    return jobReaches(context, world.tenant.id, job.id, ['completed', 'completed_no_items', 'failed']);
  };

  it('fails the fetch of a tenant without the allowance with handler.address_refused; nothing reaches the local server', { timeout: 30_000 }, async () => {
    api.route('GET', '/items', () => ({ body: [{ id: 1 }] }));
    const { world, flowId } = await fetchingTenant('net-refused');
    const job = await runToEnd(world, flowId);
    expect({ status: job.status, code: job.error_code }).toEqual({ status: 'failed', code: 'handler.address_refused' });
    expect(api.requests).toHaveLength(0);
  });

  it('lets the fetch through once the operator allows the tenant, while another tenant on the same server stays refused', { timeout: 30_000 }, async () => {
    api.route('GET', '/items', () => ({ body: [{ id: 1 }] }));
    const allowed = await fetchingTenant('net-allowed');
    const other = await fetchingTenant('net-other');
    await allow(allowed.world, true);
    expect((await runToEnd(allowed.world, allowed.flowId)).status).toBe('completed');
    const refused = await runToEnd(other.world, other.flowId);
    expect({ status: refused.status, code: refused.error_code }).toEqual({ status: 'failed', code: 'handler.address_refused' });
    expect(api.requests).toHaveLength(1);
  });

  it("reverts through the tenant's client: once the operator withdraws the allowance, an undo of what it published is refused", { timeout: 30_000 }, async () => {
    const world = await flowWorld(context, 'net-undo');
    await allow(world, true);
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'post',
      name: 'Post',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'post', type: 'publish', handler: 'wordpress', config: {} },
      ],
    });
    const flow = await createFlow(context, world.owner, handlers, 'bot', {
      pipeline: 'post',
      slug: 'post',
      name: 'Post',
      stepConfig: {
        fetch: { handlerConfig: { items: [{ id: 'net-undo', title: 'Net undo', content: '<p>x</p>' }] } },
        post: { handlerConfig: { siteUrl: wordpress.url, username: 'editor', status: 'publish' } },
      },
    });
    const job = await runToEnd(world, flow.id);
    expect(job.status).toBe('completed');
    expect(wordpress.posts.some((post) => post.title === 'Net undo')).toBe(true);
    await allow(world, false);
    const refused = await undoToEnd(context, engine, undos, world.operator, job.id);
    const report = await getUndoReport(context, world.owner, 'bot', job.id, refused.id);
    expect(report.effects.map((effect) => [effect.outcome, effect.error?.code])).toEqual([['failed', 'handler.address_refused']]);
    expect(wordpress.posts.some((post) => post.title === 'Net undo')).toBe(true);
  });
});
