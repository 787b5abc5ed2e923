import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, grant, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('handler secret routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  beforeAll(async () => {
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, token: string, payload?: unknown) {
    const response = await app.inject({ method, url, headers: as(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
    return { status: response.statusCode, body: response.body, code: response.body ? ((response.json() as { error?: { code: string } }).error?.code ?? null) : null };
  }
  const stored = (tenantId: string) => database.db.selectFrom('dm_agent_secrets').select(['name', 'sealed']).where('tenant_id', '=', tenantId).execute();

  describe('PUT, GET and DELETE /agents/{agent}/secrets', () => {
    it('stores a value sealed and never answers it: set, list by name, delete', async () => {
      const world = await tenantWorld(context, 'secret-routes');
      const agent = world.defaultAgent.slug;
      const set = await call('PUT', `/agents/${agent}/secrets/wordpress_application_password`, world.owner.token, { value: 'abcd efgh ijkl mnop' });
      expect(set.status).toBe(200);
      expect(set.body).not.toContain('abcd');
      const listed = await call('GET', `/agents/${agent}/secrets`, world.owner.token);
      expect(listed.status).toBe(200);
      expect(JSON.parse(listed.body)).toMatchObject({ secrets: [{ name: 'wordpress_application_password' }] });
      expect(listed.body).not.toContain('abcd');
      expect((await stored(world.tenant.id))[0]?.sealed).not.toContain('abcd');
      expect((await call('DELETE', `/agents/${agent}/secrets/wordpress_application_password`, world.owner.token)).status).toBe(204);
      expect(await call('DELETE', `/agents/${agent}/secrets/wordpress_application_password`, world.owner.token)).toMatchObject({ status: 404, code: 'secret.not_found' });
    });

    it("lets a viewer list names but not set or delete (403 access.denied); another tenant's owner gets 404; nothing is written", async () => {
      const world = await tenantWorld(context, 'secret-routes-denied', ['editor']);
      const agent = world.defaultAgent.slug;
      const viewer = world.members.editor!;
      await grant(context, world, agent, viewer.id, 'viewer');
      expect((await call('GET', `/agents/${agent}/secrets`, viewer.token)).status).toBe(200);
      expect(await call('PUT', `/agents/${agent}/secrets/api_token`, viewer.token, { value: 'x' })).toMatchObject({ status: 403, code: 'access.denied' });
      const stranger = await tenantWorld(context, 'secret-routes-stranger');
      // Named by id: the stranger's own tenant has an agent with the same slug.
      expect(await call('PUT', `/agents/${world.defaultAgent.id}/secrets/api_token`, stranger.owner.token, { value: 'x' })).toMatchObject({ status: 404, code: 'agent.not_found' });
      expect(await stored(world.tenant.id)).toEqual([]);
    });

    it('answers a bad name or value with 400 input.invalid, writing nothing', async () => {
      const world = await tenantWorld(context, 'secret-routes-input');
      const agent = world.defaultAgent.slug;
      expect(await call('PUT', `/agents/${agent}/secrets/Bad%20Name`, world.owner.token, { value: 'x' })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `/agents/${agent}/secrets/ok`, world.owner.token, { value: '' })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `/agents/${agent}/secrets/ok`, world.owner.token, { value: 'x', extra: true })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await stored(world.tenant.id)).toEqual([]);
    });
  });
});
