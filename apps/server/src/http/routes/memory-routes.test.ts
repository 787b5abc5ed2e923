import { createHash } from 'node:crypto';
import type { AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, grant, startApp, tenantWorld } from '../../../test/support/http-world';

const hashOf = (content: string) => createHash('sha256').update(content, 'utf8').digest('hex');

await describeEachDatabase<DataMachineDatabase & AgentsApiDatabase>('memory file routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  beforeAll(async () => {
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, token: string, options: { payload?: unknown; headers?: Record<string, string> } = {}) {
    const response = await app.inject({ method, url, headers: as(token, options.headers), ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }) });
    const body = response.body ? (response.json() as Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } }) : undefined;
    return { status: response.statusCode, etag: response.headers.etag, body, code: body?.error?.code ?? null };
  }
  const files = (tenantId: string) => database.db.selectFrom('agents_memory_files').select(['layer', 'path', 'content']).where('tenant_key', '=', tenantId).orderBy('path').execute();

  describe('GET, PUT and DELETE /agents/{agent}/memory', () => {
    it('creates with If-None-Match, reads with the hash as ETag, replaces with If-Match, lists, and deletes', async () => {
      const world = await tenantWorld(context, 'memory-routes');
      const base = `/agents/${world.defaultAgent.slug}/memory`;
      const created = await call('PUT', `${base}/notes%2Fideas.md`, world.owner.token, { payload: { content: 'first' }, headers: { 'if-none-match': '*' } });
      expect(created).toMatchObject({ status: 201, etag: `"${hashOf('first')}"`, body: { layer: 'agent', path: 'notes/ideas.md', created: true, contentHash: hashOf('first'), bytes: 5 } });
      const read = await call('GET', `${base}/notes%2Fideas.md`, world.owner.token);
      expect(read).toMatchObject({ status: 200, etag: `"${hashOf('first')}"`, body: { content: 'first', contentHash: hashOf('first') } });
      const replaced = await call('PUT', `${base}/notes%2Fideas.md`, world.owner.token, { payload: { content: 'second' }, headers: { 'if-match': read.etag ?? '' } });
      expect(replaced).toMatchObject({ status: 200, body: { created: false, contentHash: hashOf('second') } });
      await call('PUT', `${base}/RULES.md?layer=site`, world.owner.token, { payload: { content: 'Be brief.' }, headers: { 'if-none-match': '*' } });
      const listed = await call('GET', base, world.owner.token);
      expect(listed.status).toBe(200);
      expect((listed.body?.files as { layer: string; path: string }[]).filter((file) => file.path !== 'SOUL.md' && file.path !== 'MEMORY.md').map((file) => [file.layer, file.path])).toEqual([
        ['agent', 'notes/ideas.md'],
        ['site', 'RULES.md'],
      ]);
      expect((await call('GET', `${base}/RULES.md`, world.owner.token)).code).toBe('memory.not_found');
      expect((await call('DELETE', `${base}/RULES.md?layer=site`, world.owner.token)).status).toBe(204);
      expect(await call('DELETE', `${base}/RULES.md?layer=site`, world.owner.token)).toMatchObject({ status: 404, code: 'memory.not_found' });
    });

    it('refuses a save from a stale version with 409 memory.conflict, the current hash in details, and writes nothing', async () => {
      const world = await tenantWorld(context, 'memory-routes-conflict');
      const url = `/agents/${world.defaultAgent.slug}/memory/MEMORY-NOTES.md`;
      await call('PUT', url, world.owner.token, { payload: { content: 'mine' }, headers: { 'if-none-match': '*' } });
      await call('PUT', url, world.owner.token, { payload: { content: 'theirs' }, headers: { 'if-match': hashOf('mine') } });
      const stale = await call('PUT', url, world.owner.token, { payload: { content: 'late' }, headers: { 'if-match': `"${hashOf('mine')}"` } });
      expect(stale).toMatchObject({ status: 409, code: 'memory.conflict', body: { error: { details: { expected: hashOf('mine'), actual: hashOf('theirs') } } } });
      expect(await call('PUT', url, world.owner.token, { payload: { content: 'late' }, headers: { 'if-none-match': '*' } })).toMatchObject({ status: 409, code: 'memory.conflict' });
      expect(await call('DELETE', url, world.owner.token, { headers: { 'if-match': hashOf('mine') } })).toMatchObject({ status: 409, code: 'memory.conflict' });
      expect((await files(world.tenant.id)).find((file) => file.path === 'MEMORY-NOTES.md')?.content).toBe('theirs');
    });

    it('answers a save naming no version with 428 memory.precondition_required', async () => {
      const world = await tenantWorld(context, 'memory-routes-precondition');
      const url = `/agents/${world.defaultAgent.slug}/memory/X.md`;
      expect(await call('PUT', url, world.owner.token, { payload: { content: 'x' } })).toMatchObject({ status: 428, code: 'memory.precondition_required' });
      expect(await call('PUT', url, world.owner.token, { payload: { content: 'x' }, headers: { 'if-none-match': '*', 'if-match': hashOf('x') } })).toMatchObject({ status: 428 });
      expect((await files(world.tenant.id)).map((file) => file.path)).not.toContain('X.md');
    });

    it("lets a viewer read but not save or delete (403 access.denied); another tenant's owner gets 404 agent.not_found", async () => {
      const world = await tenantWorld(context, 'memory-routes-denied', ['editor']);
      const viewer = world.members.editor!;
      await grant(context, world, world.defaultAgent.slug, viewer.id, 'viewer');
      const url = `/agents/${world.defaultAgent.slug}/memory/SHARED.md`;
      await call('PUT', url, world.owner.token, { payload: { content: 'x' }, headers: { 'if-none-match': '*' } });
      expect((await call('GET', url, viewer.token)).status).toBe(200);
      expect(await call('PUT', url, viewer.token, { payload: { content: 'y' }, headers: { 'if-match': hashOf('x') } })).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await call('DELETE', url, viewer.token)).toMatchObject({ status: 403, code: 'access.denied' });
      const stranger = await tenantWorld(context, 'memory-routes-stranger');
      expect(await call('GET', `/agents/${world.defaultAgent.id}/memory/SHARED.md`, stranger.owner.token)).toMatchObject({ status: 404, code: 'agent.not_found' });
      expect(await call('GET', `/agents/${world.defaultAgent.id}/memory`, stranger.owner.token)).toMatchObject({ status: 404, code: 'agent.not_found' });
      expect((await files(world.tenant.id)).find((file) => file.path === 'SHARED.md')?.content).toBe('x');
    });

    it('answers a bad path, layer, hash or body with 400 input.invalid, writing nothing', async () => {
      const world = await tenantWorld(context, 'memory-routes-input');
      const base = `/agents/${world.defaultAgent.slug}/memory`;
      const create = { 'if-none-match': '*' };
      expect(await call('PUT', `${base}/..%2Fescape.md`, world.owner.token, { payload: { content: 'x' }, headers: create })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `${base}/a%2F%2Fb.md`, world.owner.token, { payload: { content: 'x' }, headers: create })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('GET', `${base}/USER.md?layer=user`, world.owner.token)).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `${base}/ok.md`, world.owner.token, { payload: { content: 'x' }, headers: { 'if-match': 'not-a-hash' } })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `${base}/ok.md`, world.owner.token, { payload: { content: 1 }, headers: create })).toMatchObject({ status: 400, code: 'input.invalid' });
      expect(await call('PUT', `${base}/ok.md`, world.owner.token, { payload: { content: 'nul \u0000' }, headers: create })).toMatchObject({ status: 400, code: 'memory.invalid_content' });
      expect((await files(world.tenant.id)).map((file) => file.path)).toEqual(expect.not.arrayContaining(['ok.md', 'escape.md', 'a//b.md']));
    });
  });
});
