import { describeEachDatabase } from '@data-machine/testkit';
import { createJobEffectsRecorder, handlerEffectsFor, runUndo, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultHandlers } from '../../handlers/default-handlers';
import { as, startApp, tenantWithFlow, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('undo routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;

  beforeAll(async () => {
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  async function call(method: 'GET' | 'POST', url: string, token: string) {
    const response = await app.inject({ method, url, headers: as(token) });
    const body = response.json() as Record<string, unknown> & { error?: { code: string } };
    return { status: response.statusCode, code: body.error?.code ?? null, body };
  }

  /** A tenant whose default agent has a flow `daily` and one ended (cancelled) job; its editor is the agent's viewer, its author an operator. */
  async function withEndedJob(slug: string) {
    const { world, viewer, operator, jobs, run } = await tenantWithFlow(app, context, slug);
    const job = (await call('POST', run, operator.token)).body.id as string;
    expect((await call('POST', `${jobs}/${job}/cancel`, operator.token)).status).toBe(200);
    return { world, viewer, operator, jobs, job, run };
  }

  describe('POST /agents/{agent}/jobs/{job}/undo', () => {
    it('answers 202 with a pending undo; once a worker ran it, its report reads back and the job lists it', async () => {
      const { world, operator, jobs, job } = await withEndedJob('undo-http');
      const requested = await call('POST', `${jobs}/${job}/undo`, operator.token);
      expect([requested.status, requested.body.status, requested.body.jobId, requested.body.requestedBy]).toEqual([202, 'pending', job, operator.id]);
      await runUndo({ context, handlers: createDefaultHandlers(context) }, { tenantId: world.tenant.id, undoId: requested.body.id as string });
      // Reading it is reading the job (`logs.read`): the tenant owner here.
      const report = await call('GET', `${jobs}/${job}/undos/${requested.body.id as string}`, world.owner.token);
      expect(report.status).toBe(200);
      expect(report.body).toMatchObject({ undo: { id: requested.body.id, status: 'completed', counts: { reverted: 0, skipped: 0, failed: 0 } }, effects: [] });
      const list = await call('GET', `${jobs}/${job}/undos`, world.owner.token);
      expect([list.status, (list.body.undos as { id: string }[]).map((undo) => undo.id)]).toEqual([200, [requested.body.id]]);
    });

    it('refuses a second undo while one is pending (409 undo.in_progress) and a job that has not ended (409 undo.job_live)', async () => {
      const { operator, jobs, job, run } = await withEndedJob('undo-http-conflict');
      expect((await call('POST', `${jobs}/${job}/undo`, operator.token)).status).toBe(202);
      expect(await call('POST', `${jobs}/${job}/undo`, operator.token)).toMatchObject({ status: 409, code: 'undo.in_progress' });
      const live = (await call('POST', run, operator.token)).body.id as string;
      expect(await call('POST', `${jobs}/${live}/undo`, operator.token)).toMatchObject({ status: 409, code: 'undo.job_live' });
    });

    it('denies a viewer (403 access.denied) and answers a stranger and a missing job or undo 404, writing no undo', async () => {
      const { world, viewer, jobs, job } = await withEndedJob('undo-http-denied');
      const stranger = await tenantWorld(context, 'undo-http-stranger');
      expect(await call('POST', `${jobs}/${job}/undo`, viewer.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await call('POST', `${jobs}/${job}/undo`, stranger.owner.token)).toMatchObject({ status: 404, code: 'job.not_found' });
      expect(await call('POST', `${jobs}/job_missing/undo`, world.owner.token)).toMatchObject({ status: 404, code: 'job.not_found' });
      expect(await call('GET', `${jobs}/${job}/undos/undo_missing`, world.owner.token)).toMatchObject({ status: 404, code: 'undo.not_found' });
      expect(await database.db.selectFrom('dm_undos').select('id').where('tenant_id', '=', world.tenant.id).execute()).toEqual([]);
    });
  });

  describe('GET /agents/{agent}/jobs/{job}/effects', () => {
    it("answers the job's effects with their links and undo state, to those who may read the job", async () => {
      const { world, viewer, operator, jobs, job } = await withEndedJob('effects-http');
      const effects = handlerEffectsFor(createJobEffectsRecorder(context, world.tenant.id, job), 'store', 'webhook');
      await effects.record({ kind: 'webhook_delivered', ref: 'delivery:1', reversible: false, undo: { url: 'https://hooks.example/in', status: 200 } });
      const undo = (await call('POST', `${jobs}/${job}/undo`, operator.token)).body.id as string;
      await runUndo({ context, handlers: createDefaultHandlers(context) }, { tenantId: world.tenant.id, undoId: undo });

      // Reading them is reading the job (`logs.read`): the tenant owner here (the operator is an author, without view_logs).
      const listed = await call('GET', `${jobs}/${job}/effects`, world.owner.token);
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual({
        effects: [
          {
            jobId: job,
            key: 'effect:store:delivery:1',
            step: 'store',
            handler: 'webhook',
            kind: 'webhook_delivered',
            ref: 'delivery:1',
            url: 'https://hooks.example/in',
            reversible: false,
            at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
            undo: { status: 'skipped', undoId: undo, reason: 'not_reversible', message: expect.any(String), at: expect.stringMatching(/^\d{4}-/) },
          },
        ],
        nextCursor: null,
      });
      expect(await call('GET', `${jobs}/${job}/effects`, viewer.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await call('GET', `${jobs}/${job}/effects`, operator.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await call('GET', `${jobs}/job_missing/effects`, world.owner.token)).toMatchObject({ status: 404, code: 'job.not_found' });
      expect(await call('GET', `${jobs}/${job}/effects?cursor=nope`, world.owner.token)).toMatchObject({ status: 400, code: 'input.invalid' });
    });
  });
});
