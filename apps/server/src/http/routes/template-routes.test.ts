import { describeEachDatabase } from '@data-machine/testkit';
import { createAgent, createTenant, resolveScope, type Actor, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('template routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let writerId: string;
  const system: Actor = { kind: 'system', channel: 'cli', reason: 'test setup' };

  beforeAll(async () => {
    ({ app, context } = await startApp(database));
    const catalog = await createTenant(context, system, { slug: 'http-catalog', name: 'HTTP catalog', isCatalog: true });
    const writer = await createAgent(context, await resolveScope(context, system, catalog.tenant.id), { slug: 'writer', name: 'Writer', description: 'Writes posts.', ownerUserId: null, config: { instructions: 'Write.' } });
    writerId = writer.id;
  });
  afterAll(async () => {
    await app.close();
  });

  async function call(method: 'GET' | 'POST', url: string, token: string, payload?: Record<string, unknown>) {
    const response = await app.inject({ method, url, headers: as(token), ...(payload === undefined ? {} : { payload }) });
    const body = response.json() as Record<string, unknown> & { error?: { code: string } };
    return { status: response.statusCode, body, code: body.error?.code ?? null };
  }
  const agentsOf = (tenantId: string) => database.db.selectFrom('dm_agents').select(['slug', 'template_agent_id']).where('tenant_id', '=', tenantId).where('template_agent_id', 'is not', null).execute();

  describe('GET /templates', () => {
    it("lists the catalogs' templates to any member, each with its install in the caller's tenant", async () => {
      const world = await tenantWorld(context, 'http-templates-list', ['editor']);
      const listed = await call('GET', '/templates', world.members.editor!.token);
      expect(listed.status).toBe(200);
      // The catalog's default agent is a template too; installs (in any tenant) never are.
      expect(listed.body.templates).toEqual([
        expect.objectContaining({ catalog: 'http-catalog', slug: 'default' }),
        { id: writerId, slug: 'writer', name: 'Writer', description: 'Writes posts.', catalog: 'http-catalog', installedAs: null },
      ]);
      await call('POST', `/templates/${writerId}/install`, world.owner.token, { slug: 'house-writer' });
      expect((await call('GET', '/templates', world.members.editor!.token)).body.templates).toContainEqual(expect.objectContaining({ id: writerId, installedAs: 'house-writer' }));
      expect((await app.inject({ method: 'GET', url: '/templates' })).statusCode).toBe(401);
    });
  });

  describe('POST /templates/{template}/install', () => {
    it('installs into the caller tenant (201), then answers the same install (200)', async () => {
      const world = await tenantWorld(context, 'http-templates-install');
      const first = await call('POST', `/templates/${writerId}/install`, world.owner.token, { slug: 'my-writer', name: 'My writer' });
      expect(first).toMatchObject({ status: 201, body: { created: true, agent: { slug: 'my-writer', name: 'My writer', tenantId: world.tenant.id, templateAgentId: writerId, effectiveConfig: { instructions: 'Write.' } } } });
      const again = await call('POST', `/templates/${writerId}/install`, world.owner.token);
      expect(again).toMatchObject({ status: 200, body: { created: false, agent: { slug: 'my-writer' } } });
      expect(await agentsOf(world.tenant.id)).toEqual([{ slug: 'my-writer', template_agent_id: writerId }]);
    });

    it('refuses an editor (403 access.denied), writing nothing', async () => {
      const world = await tenantWorld(context, 'http-templates-editor', ['editor']);
      expect(await call('POST', `/templates/${writerId}/install`, world.members.editor!.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await agentsOf(world.tenant.id)).toEqual([]);
    });

    it('refuses an unknown template (404), an agent outside a catalog or an install (409), a taken slug (409) and a bad body (400)', async () => {
      const world = await tenantWorld(context, 'http-templates-refused');
      expect(await call('POST', '/templates/agt_nope/install', world.owner.token)).toMatchObject({ status: 404, code: 'agent.not_found' });
      expect(await call('POST', `/templates/${world.defaultAgent.id}/install`, world.owner.token)).toMatchObject({ status: 409, code: 'template.not_catalog' });
      // The slug is taken by the tenant's default agent.
      expect(await call('POST', `/templates/${writerId}/install`, world.owner.token, { slug: world.defaultAgent.slug })).toMatchObject({ status: 409, code: 'agent.slug_taken' });
      const bad = await call('POST', `/templates/${writerId}/install`, world.owner.token, { slug: 'Not A Slug', extra: 1 });
      expect(bad).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await agentsOf(world.tenant.id)).toEqual([]);
      const installed = await call('POST', `/templates/${writerId}/install`, world.owner.token);
      expect(await call('POST', `/templates/${(installed.body.agent as { id: string }).id}/install`, world.owner.token)).toMatchObject({ status: 409, code: 'template.is_install' });
    });
  });
});
