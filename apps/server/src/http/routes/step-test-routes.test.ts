import { describeEachDatabase, startWordPressServer, type WordPressServer } from '@data-machine/testkit';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, grant, startApp, tenantWorld } from '../../../test/support/http-world';

const password = 'abcd efgh ijkl mnop qrst uvwx';

await describeEachDatabase<DataMachineDatabase>('step connection test route', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let wordpress: WordPressServer;
  beforeAll(async () => {
    wordpress = await startWordPressServer();
    // The WordPress fixture listens on loopback: this server allows handlers private addresses.
    ({ app, context } = await startApp(database, { handlersAllowPrivateAddresses: true }));
  });
  afterAll(async () => {
    await app.close();
    await wordpress.close();
  });

  async function call(method: 'POST' | 'PUT', url: string, token: string, payload?: Record<string, unknown>) {
    const response = await app.inject({ method, url, headers: as(token), ...(payload === undefined ? {} : { payload }) });
    return { status: response.statusCode, json: response.json() as Record<string, unknown> & { error?: { code: string } } };
  }

  /** A tenant whose default agent publishes to the WordPress fixture from flow `daily`; its editor is an operator, its author a viewer. */
  async function withWordPressFlow(slug: string, username = 'editor') {
    const world = await tenantWorld(context, slug, ['editor', 'author']);
    const agent = world.defaultAgent.slug;
    const steps = [
      { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
      { key: 'post', type: 'publish', handler: 'wordpress', config: { siteUrl: wordpress.url, username } },
    ];
    expect((await call('POST', `/agents/${agent}/pipelines`, world.owner.token, { slug: 'wp', name: 'WP', steps })).status).toBe(201);
    expect((await call('POST', `/agents/${agent}/flows`, world.owner.token, { pipeline: 'wp', slug: 'daily', name: 'Daily', stepConfig: { fetch: { handlerConfig: { items: [] } } } })).status).toBe(201);
    await grant(context, world, agent, world.members.editor!.id, 'operator');
    await grant(context, world, agent, world.members.author!.id, 'viewer');
    return { world, agent, test: `/agents/${agent}/flows/daily/steps/post/test` };
  }

  describe('POST /agents/{agent}/flows/{flow}/steps/{step}/test', () => {
    it("reaches WordPress with the agent's stored application password: ok", async () => {
      const { world, agent, test } = await withWordPressFlow('step-test-ok');
      expect((await call('PUT', `/agents/${agent}/secrets/wordpress_application_password`, world.owner.token, { value: password })).status).toBe(200);
      expect(await call('POST', test, world.members.editor!.token)).toEqual({ status: 200, json: { handler: 'wordpress', supported: true, ok: true } });
    });

    it('reports a refused login or a missing secret as ok: false with the reason, not as an error', async () => {
      const { world, agent, test } = await withWordPressFlow('step-test-refused');
      const missing = await call('POST', test, world.owner.token);
      expect(missing).toMatchObject({ status: 200, json: { supported: true, ok: false } });
      await call('PUT', `/agents/${agent}/secrets/wordpress_application_password`, world.owner.token, { value: 'wrong password' });
      const refused = await call('POST', test, world.owner.token);
      expect(refused).toMatchObject({ status: 200, json: { supported: true, ok: false } });
      expect(String(refused.json.message)).not.toContain('wrong password');
    });

    it('refuses a viewer (403), names an unknown or handler-less step (404 flow.unknown_step), and says when a handler has no test', async () => {
      const { world, agent, test } = await withWordPressFlow('step-test-refusals');
      expect(await call('POST', test, world.members.author!.token)).toMatchObject({ status: 403, json: { error: { code: 'access.denied' } } });
      expect(await call('POST', `/agents/${agent}/flows/daily/steps/nope/test`, world.owner.token)).toMatchObject({ status: 404, json: { error: { code: 'flow.unknown_step' } } });
      expect(await call('POST', `/agents/${agent}/flows/daily/steps/fetch/test`, world.owner.token)).toEqual({ status: 200, json: { handler: 'json_items', supported: false } });
    });
  });
});
