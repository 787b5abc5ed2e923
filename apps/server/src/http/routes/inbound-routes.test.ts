import { describeEachDatabase } from '@data-machine/testkit';
import { createJob, signWebhookBody, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, asEngine, deliverWebhook, grant, startApp, tenantWorld } from '../../../test/support/http-world';

const inboundPipeline = {
  slug: 'inbox',
  name: 'Inbox',
  steps: [
    { key: 'inbox', type: 'fetch', handler: 'inbound_webhook' },
    { key: 'gate', type: 'webhook_gate', config: { timeoutSeconds: 600 } },
    { key: 'store', type: 'publish', handler: 'records', config: { collection: 'inbox' } },
  ],
};

await describeEachDatabase<DataMachineDatabase>('inbound webhook and file routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;

  beforeAll(async () => {
    ({ app, context } = await startApp(database, { secretKey: 's'.repeat(40), inbound: { webhookMaxBytes: 1024, fileMaxBytes: 64 } }));
  });
  afterAll(async () => {
    await app.close();
  });

  /** A tenant whose default agent has a flow `inbox` fed by its webhook; its editor is the agent's viewer, its author an operator. */
  async function withInbox(slug: string) {
    const world = await tenantWorld(context, slug, ['editor', 'author']);
    const agent = world.defaultAgent.slug;
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: as(world.owner.token), payload: inboundPipeline })).statusCode).toBe(201);
    const flow = await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: as(world.owner.token), payload: { pipeline: 'inbox', slug: 'inbox', name: 'Inbox' } });
    const viewer = world.members.editor!;
    const operator = world.members.author!;
    await grant(context, world, agent, viewer.id, 'viewer');
    await grant(context, world, agent, operator.id, 'operator');
    return { world, agent, viewer, operator, flowId: (flow.json() as { id: string }).id, base: `/agents/${agent}/flows/inbox` };
  }

  async function rotate(base: string, token: string): Promise<string> {
    const response = await app.inject({ method: 'POST', url: `${base}/webhook/rotate`, headers: as(token) });
    expect(response.statusCode).toBe(201);
    return (response.json() as { secret: string }).secret;
  }

  const deliver = (flowId: string, secret: string, payload: string, at?: Date, path?: string) => deliverWebhook(app, flowId, secret, payload, at, path);

  const jobsOf = (flowId: string) => database.db.selectFrom('dm_jobs').select(['id', 'engine_data']).where('flow_id', '=', flowId).execute();

  describe('the webhook secret', () => {
    it('is shown once to an operator who rotates it; reads show where to POST and never the secret', async () => {
      const { base, operator, viewer, flowId } = await withInbox('hook-rotate');
      const secret = await rotate(base, operator.token);
      expect(secret).toMatch(/^whsec_/);
      const read = await app.inject({ method: 'GET', url: `${base}/webhook`, headers: as(viewer.token) });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toMatchObject({ flowId, path: `/hooks/flows/${flowId}` });
      expect(read.body).not.toContain(secret);
    });

    it('refuses a viewer (403 access.denied), and a flow without one reads 404 webhook.not_found', async () => {
      const { base, viewer, operator } = await withInbox('hook-viewer');
      expect((await app.inject({ method: 'POST', url: `${base}/webhook/rotate`, headers: as(viewer.token) })).json()).toMatchObject({ error: { code: 'access.denied' } });
      expect((await app.inject({ method: 'GET', url: `${base}/webhook`, headers: as(operator.token) })).statusCode).toBe(404);
      await rotate(base, operator.token);
      expect((await app.inject({ method: 'DELETE', url: `${base}/webhook`, headers: as(operator.token) })).statusCode).toBe(204);
      expect((await app.inject({ method: 'GET', url: `${base}/webhook`, headers: as(operator.token) })).json()).toMatchObject({ error: { code: 'webhook.not_found' } });
    });
  });

  describe('POST /hooks/flows/{flow}', () => {
    it('starts a webhook job with the raw JSON payload as its item (202), and answers a replay with the same job (200)', async () => {
      const { base, operator, flowId } = await withInbox('hook-start');
      const secret = await rotate(base, operator.token);
      const payload = '{ "order": 7,  "note": "spaces are signed too" }';
      // One signing instant: a replay is the same request, timestamp included.
      const at = new Date();
      const first = await deliver(flowId, secret, payload, at);
      expect([first.statusCode, first.json()]).toEqual([202, expect.objectContaining({ source: 'webhook', status: 'pending' })]);
      const again = await deliver(flowId, secret, payload, at);
      expect([again.statusCode, (again.json() as { id: string }).id]).toEqual([200, (first.json() as { id: string }).id]);
      const jobs = await jobsOf(flowId);
      expect(jobs).toHaveLength(1);
      expect(jobs[0]?.engine_data).toMatchObject({ item: { data: { order: 7, note: 'spaces are signed too' } } });
    });

    it('answers a bad signature and an unknown flow with the same 401, and stores nothing', async () => {
      const { base, operator, flowId } = await withInbox('hook-bad');
      const secret = await rotate(base, operator.token);
      const wrong = await deliver(flowId, `${secret}x`, '{"a":1}');
      const unknown = await deliver('flw_nope', secret, '{"a":1}');
      const unsigned = await app.inject({ method: 'POST', url: `/hooks/flows/${flowId}`, headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
      expect([wrong.statusCode, unknown.statusCode, unsigned.statusCode]).toEqual([401, 401, 401]);
      expect(wrong.json()).toEqual(unknown.json());
      expect(unsigned.json()).toEqual(unknown.json());
      expect(unknown.json()).toMatchObject({ error: { code: 'webhook.unauthorized' } });
      expect(await jobsOf(flowId)).toEqual([]);
    });

    it('answers a timestamp over 5 minutes old or ahead with 401 webhook.stale_timestamp, and stores nothing', async () => {
      const { base, operator, flowId } = await withInbox('hook-stale');
      const secret = await rotate(base, operator.token);
      const old = await deliver(flowId, secret, '{"a":1}', new Date(Date.now() - 10 * 60_000));
      const ahead = await deliver(flowId, secret, '{"a":1}', new Date(Date.now() + 10 * 60_000));
      expect([old.statusCode, old.json()]).toEqual([401, expect.objectContaining({ error: expect.objectContaining({ code: 'webhook.stale_timestamp' }) })]);
      expect(ahead.statusCode).toBe(401);
      expect(await jobsOf(flowId)).toEqual([]);
    });

    it('answers a body over DM_WEBHOOK_MAX_BYTES with 413, and stores nothing', async () => {
      const { base, operator, flowId } = await withInbox('hook-size');
      const secret = await rotate(base, operator.token);
      const response = await deliver(flowId, secret, JSON.stringify({ text: 'x'.repeat(2048) }));
      expect(response.statusCode).toBe(413);
      expect(await jobsOf(flowId)).toEqual([]);
    });

    it('reads the body raw whatever its content type, and answers a signed body that is not JSON with 400 webhook.invalid_payload', async () => {
      const { base, operator, flowId } = await withInbox('hook-raw');
      const secret = await rotate(base, operator.token);
      const timestamp = Math.floor(Date.now() / 1000);
      const send = (payload: string) =>
        app.inject({ method: 'POST', url: `/hooks/flows/${flowId}`, headers: { 'content-type': 'text/plain', 'x-dm-timestamp': String(timestamp), 'x-dm-signature': signWebhookBody(secret, timestamp, payload) }, payload });
      expect((await send('{"ok":true}')).statusCode).toBe(202);
      expect((await send('not json')).json()).toMatchObject({ error: { code: 'webhook.invalid_payload' } });
      expect(await jobsOf(flowId)).toHaveLength(1);
    });
  });

  describe('POST /hooks/flows/{flow}/jobs/{job}', () => {
    /** A job of the flow waiting at its gate, as the engine leaves it (no worker runs in these suites). */
    async function waitingAtGate(tenantId: string, flowId: string): Promise<string> {
      return asEngine(database, tenantId, async (trx) => {
        const { job } = await createJob(context, trx, { flowId, source: 'manual' });
        const engineData = { item: { sourceKey: 'a', data: {} }, outputs: { inbox: {} }, waiting: { step: 'gate', signal: 'webhook', id: 'wait_1' } };
        await trx.updateTable('dm_jobs').set({ status: 'waiting', status_reason: 'signal', engine_data: JSON.stringify(engineData) }).where('id', '=', job.id).execute();
        return job.id;
      });
    }

    it('releases a job waiting at its gate (202) with the payload; again it is 409', async () => {
      const { world, base, operator, flowId } = await withInbox('hook-release');
      const secret = await rotate(base, operator.token);
      const jobId = await waitingAtGate(world.tenant.id, flowId);
      const released = await deliver(flowId, secret, '{"approved":true}', new Date(), `/jobs/${jobId}`);
      expect([released.statusCode, released.json()]).toEqual([202, { jobId }]);
      const row = await database.db.selectFrom('dm_jobs').select(['status', 'engine_data']).where('id', '=', jobId).executeTakeFirstOrThrow();
      expect([row.status, row.engine_data]).toEqual(['pending', expect.objectContaining({ released: { step: 'gate', signal: 'webhook', payload: { approved: true } } })]);
      const again = await deliver(flowId, secret, '{"approved":"twice"}', new Date(), `/jobs/${jobId}`);
      expect([again.statusCode, again.json()]).toEqual([409, expect.objectContaining({ error: expect.objectContaining({ code: 'job.not_waiting' }) })]);
    });

    it('answers an unknown flow 401 as a bad signature, and a job the flow does not have 404 once signed', async () => {
      const { base, operator, flowId } = await withInbox('hook-release-bad');
      const secret = await rotate(base, operator.token);
      expect((await deliver('flw_nope', secret, '{}', new Date(), '/jobs/job_nope')).statusCode).toBe(401);
      expect((await deliver(flowId, secret, '{}', new Date(), '/jobs/job_nope')).json()).toMatchObject({ error: { code: 'job.not_found' } });
    });
  });

  describe('files of a flow', () => {
    it('uploads the raw body under its name and content type (201), lists it, and deletes it (204)', async () => {
      const { base, operator, viewer } = await withInbox('files-route');
      const upload = await app.inject({ method: 'POST', url: `${base}/files?name=notes.txt`, headers: as(operator.token, { 'content-type': 'text/plain' }), payload: 'hello' });
      expect([upload.statusCode, upload.json()]).toEqual([201, expect.objectContaining({ name: 'notes.txt', contentType: 'text/plain', size: 5 })]);
      const list = await app.inject({ method: 'GET', url: `${base}/files`, headers: as(viewer.token) });
      expect((list.json() as { files: unknown[] }).files).toEqual([upload.json()]);
      const id = (upload.json() as { id: string }).id;
      expect((await app.inject({ method: 'DELETE', url: `${base}/files/${id}`, headers: as(operator.token) })).statusCode).toBe(204);
      expect((await app.inject({ method: 'DELETE', url: `${base}/files/${id}`, headers: as(operator.token) })).json()).toMatchObject({ error: { code: 'file.not_found' } });
    });

    it('refuses a file over DM_FILE_MAX_BYTES (413) and a viewer (403), storing nothing', async () => {
      const { base, operator, viewer, flowId } = await withInbox('files-refused');
      expect((await app.inject({ method: 'POST', url: `${base}/files?name=big.bin`, headers: as(operator.token, { 'content-type': 'application/octet-stream' }), payload: Buffer.alloc(100) })).statusCode).toBe(413);
      expect((await app.inject({ method: 'POST', url: `${base}/files?name=a.txt`, headers: as(viewer.token, { 'content-type': 'text/plain' }), payload: 'a' })).statusCode).toBe(403);
      expect(await database.db.selectFrom('dm_flow_files').select('id').where('flow_id', '=', flowId).execute()).toEqual([]);
    });
  });
});
