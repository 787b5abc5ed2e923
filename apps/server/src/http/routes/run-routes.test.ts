import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, digestPipeline, grant, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('run-now and retry routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;

  beforeAll(async () => {
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  async function post(url: string, token: string, headers: Record<string, string> = {}) {
    const response = await app.inject({ method: 'POST', url, headers: as(token, headers) });
    const body = response.json() as { id?: string; status?: string; source?: string; error?: { code: string } };
    return { status: response.statusCode, code: body.error?.code ?? null, body };
  }

  /** A tenant whose default agent has a flow `daily`; its editor is the agent's viewer, its author an operator. */
  async function withFlow(slug: string) {
    const world = await tenantWorld(context, slug, ['editor', 'author']);
    const agent = world.defaultAgent.slug;
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: as(world.owner.token), payload: digestPipeline })).statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: as(world.owner.token), payload: { pipeline: 'digest', slug: 'daily', name: 'Daily' } })).statusCode).toBe(201);
    const viewer = world.members.editor!;
    const operator = world.members.author!;
    await grant(context, world, agent, viewer.id, 'viewer');
    await grant(context, world, agent, operator.id, 'operator');
    return { world, agent, viewer, operator, run: `/agents/${agent}/flows/daily/run`, jobs: `/agents/${agent}/jobs` };
  }

  const jobCount = async (tenantId: string) => (await database.db.selectFrom('dm_jobs').select('id').where('tenant_id', '=', tenantId).execute()).length;

  describe('GET /metrics after a run', () => {
    it('counts the new pending job under its tenant (the automation series read the database)', async () => {
      const { world, operator, run } = await withFlow('run-now-metrics');
      expect((await post(run, operator.token)).status).toBe(202);
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toContain(`dm_jobs{tenant="${world.tenant.slug}",status="pending"} 1`);
      expect(metrics.body).not.toContain('dm_metrics_read_failures_total 1');
    });
  });

  describe('POST /agents/{agent}/flows/{flow}/run', () => {
    it('answers 202 with a pending api job; the same Idempotency-Key gives the same job, another key another', async () => {
      const { operator, run } = await withFlow('run-now');
      const first = await post(run, operator.token, { 'idempotency-key': 'click-1' });
      const again = await post(run, operator.token, { 'idempotency-key': 'click-1' });
      const other = await post(run, operator.token, { 'idempotency-key': 'click-2' });
      expect([first.status, first.body.status, first.body.source]).toEqual([202, 'pending', 'api']);
      expect([again.status, again.body.id === first.body.id, other.body.id === first.body.id]).toEqual([202, true, false]);
    });

    it('denies a viewer (403 access.denied) and writes no job', async () => {
      const { world, viewer, run } = await withFlow('run-now-viewer');
      expect(await post(run, viewer.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await jobCount(world.tenant.id)).toBe(0);
    });

    it("answers another tenant's owner 404, as for a flow that does not exist, and writes no job", async () => {
      const { world, run, agent } = await withFlow('run-now-home');
      const stranger = await tenantWorld(context, 'run-now-stranger');
      // The stranger's own agent has the same slug: the flow is what cannot be found there.
      expect(await post(run, stranger.owner.token)).toMatchObject({ status: 404, code: 'flow.not_found' });
      expect(await post(`/agents/${agent}/flows/nope/run`, world.owner.token)).toMatchObject({ status: 404, code: 'flow.not_found' });
      expect(await jobCount(world.tenant.id)).toBe(0);
    });

    it('refuses an over-long Idempotency-Key (400 input.invalid)', async () => {
      const { operator, run } = await withFlow('run-now-key');
      expect(await post(run, operator.token, { 'idempotency-key': 'k'.repeat(201) })).toMatchObject({ status: 400, code: 'input.invalid' });
    });
  });

  describe('POST /agents/{agent}/jobs/{job}/retry', () => {
    it('retries a cancelled job as a new retry job (202); a second retry gives that job back', async () => {
      const { operator, run, jobs } = await withFlow('retry-cancelled');
      const job = (await post(run, operator.token)).body.id as string;
      expect((await post(`${jobs}/${job}/cancel`, operator.token)).status).toBe(200);
      const retried = await post(`${jobs}/${job}/retry`, operator.token);
      const again = await post(`${jobs}/${job}/retry`, operator.token);
      expect([retried.status, retried.body.source, retried.body.status, retried.body.id === job]).toEqual([202, 'retry', 'pending', false]);
      expect(again.body.id).toBe(retried.body.id);
    });

    it('refuses a job that has not ended in failure (409 job.not_retryable), a viewer (403) and a stranger (404)', async () => {
      const { operator, viewer, run, jobs } = await withFlow('retry-refused');
      const job = (await post(run, operator.token)).body.id as string;
      const stranger = await tenantWorld(context, 'retry-stranger');
      expect(await post(`${jobs}/${job}/retry`, operator.token)).toMatchObject({ status: 409, code: 'job.not_retryable' });
      expect(await post(`${jobs}/${job}/retry`, viewer.token)).toMatchObject({ status: 403, code: 'access.denied' });
      expect(await post(`${jobs}/${job}/retry`, stranger.owner.token)).toMatchObject({ status: 404, code: 'job.not_found' });
      expect(await post(`${jobs}/job_missing/retry`, operator.token)).toMatchObject({ status: 404, code: 'job.not_found' });
    });
  });
});
