import { describeEachDatabase } from '@data-machine/testkit';
import { createJob, signApprovalLink, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, asEngine, digestPipeline, grant, startApp, tenantWorld, testSecretKey } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('approval routes', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;

  beforeAll(async () => {
    ({ app, context } = await startApp(database));
  });
  afterAll(async () => {
    await app.close();
  });

  async function outcome(method: 'GET' | 'POST', url: string, token: string | null, payload?: unknown) {
    const response = await app.inject({ method, url, headers: token === null ? {} : as(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
    const body = response.body === '' ? null : (response.json() as { error?: { code: string } });
    return [response.statusCode, body?.error?.code ?? null] as const;
  }

  /**
   * A tenant with an operator and a viewer of its default agent, and a job
   * waiting at its `think` step for the decision on one pending action: the
   * rows the ai step and the engine write, inserted as they would be.
   */
  async function waitingAction(slug: string) {
    const world = await tenantWorld(context, slug, ['editor', 'author']);
    const agent = world.defaultAgent.slug;
    const operator = world.members.editor!;
    const viewer = world.members.author!;
    await grant(context, world, agent, operator.id, 'operator');
    await grant(context, world, agent, viewer.id, 'viewer');
    expect((await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: as(world.owner.token), payload: digestPipeline })).statusCode).toBe(201);
    const flow = (await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: as(world.owner.token), payload: { pipeline: 'digest', slug: 'daily', name: 'Daily' } })).json() as { id: string };
    const actionId = `act_${slug}`;
    const now = new Date();
    const jobId = await asEngine(database, world.tenant.id, async (trx) => {
      const { job } = await createJob(context, trx, { flowId: flow.id, source: 'manual', createdBy: operator.id });
      const waiting = { step: 'think', signal: `approval:${actionId}`, id: 'wait-1' };
      await trx.updateTable('dm_jobs').set({ status: 'waiting', status_reason: 'signal', current_step: 'think', engine_data: JSON.stringify({ outputs: {}, waiting }) }).where('id', '=', job.id).execute();
      await trx
        .insertInto('dm_pending_actions')
        .values({
          id: actionId,
          tenant_id: world.tenant.id,
          agent_id: world.defaultAgent.id,
          job_id: job.id,
          step_key: 'think',
          tool_call_id: 'call_1',
          kind: 'publish',
          summary: 'Publish through step "store"',
          preview: JSON.stringify({ title: 'Hello' }),
          tool_name: 'publish_store',
          input: JSON.stringify({ title: 'Hello' }),
          triggered_by: operator.id,
          status: 'pending',
          expires_at: new Date(now.getTime() + 3_600_000),
          created_at: now,
          updated_at: now,
        })
        .execute();
      return job.id;
    });
    const jobStatus = async () => (await asEngine(database, world.tenant.id, (trx) => trx.selectFrom('dm_jobs').select('status').where('id', '=', jobId).executeTakeFirstOrThrow())).status;
    return { world, agent, operator, viewer, actionId, jobId, jobStatus };
  }

  describe('listing and reading', () => {
    it('lists pending actions for a viewer, by agent and status, and shows one with the exact call', async () => {
      const { world, agent, viewer, actionId } = await waitingAction('ap-list');
      const list = await app.inject({ method: 'GET', url: `/approvals?agent=${agent}&status=pending`, headers: as(viewer.token, { 'x-tenant': world.tenant.slug }) });
      expect(list.statusCode).toBe(200);
      expect(list.json()).toMatchObject({ approvals: [{ id: actionId, status: 'pending', toolName: 'publish_store', input: { title: 'Hello' } }], nextCursor: null });
      const one = await app.inject({ method: 'GET', url: `/approvals/${actionId}`, headers: as(viewer.token) });
      expect(one.json()).toMatchObject({ id: actionId, expiresAt: expect.stringMatching(/Z$/) });
      expect(await outcome('GET', '/approvals/act_nothing', viewer.token)).toEqual([404, 'approval.not_found']);
      expect(await outcome('GET', '/approvals?status=maybe', viewer.token)).toEqual([400, 'input.invalid']);
    });

    it('words a bad page size in the caller\'s terms: what was sent and what is allowed', async () => {
      const { viewer } = await waitingAction('ap-limit');
      const answers = await Promise.all(['abc', '0'].map((limit) => app.inject({ method: 'GET', url: `/approvals?limit=${limit}`, headers: as(viewer.token) })));
      expect(answers.map((answer) => [answer.statusCode, answer.json().error.message])).toEqual([
        [400, 'Invalid query: query.limit: must be a number, not "abc"'],
        [400, 'Invalid query: query.limit: must be at least 1'],
      ]);
    });
  });

  describe('deciding', () => {
    it('refuses a viewer (403 access.denied): the action stays pending and the job waits', async () => {
      const { viewer, actionId, jobStatus } = await waitingAction('ap-viewer');
      expect(await outcome('POST', `/approvals/${actionId}/accept`, viewer.token)).toEqual([403, 'access.denied']);
      expect(await jobStatus()).toBe('waiting');
    });

    it('accepts as an operator: the action is applying and the job is released; a second decision is 409', async () => {
      const { operator, actionId, jobStatus } = await waitingAction('ap-accept');
      const accepted = await app.inject({ method: 'POST', url: `/approvals/${actionId}/accept`, headers: as(operator.token) });
      expect(accepted.statusCode).toBe(200);
      expect(accepted.json()).toMatchObject({ status: 'applying', decidedBy: operator.id, decidedVia: 'api' });
      expect(await jobStatus()).toBe('pending');
      expect(await outcome('POST', `/approvals/${actionId}/reject`, operator.token)).toEqual([409, 'approval.already_resolved']);
    });

    it('refuses a request that tries to change what runs: the body takes only a reason', async () => {
      const { operator, actionId, jobStatus } = await waitingAction('ap-input');
      expect(await outcome('POST', `/approvals/${actionId}/accept`, operator.token, { input: { title: 'Something else' } })).toEqual([400, 'input.invalid']);
      expect(await jobStatus()).toBe('waiting');
    });

    it('rejects with a reason', async () => {
      const { operator, actionId } = await waitingAction('ap-reject');
      const rejected = await app.inject({ method: 'POST', url: `/approvals/${actionId}/reject`, headers: as(operator.token), payload: { reason: 'Wrong tone.' } });
      expect(rejected.json()).toMatchObject({ status: 'rejected', reason: 'Wrong tone.' });
    });
  });

  describe('signed links', () => {
    it('issues links to an operator; GET only shows, POST decides once', async () => {
      const { operator, viewer, actionId, jobStatus } = await waitingAction('ap-link');
      expect(await outcome('POST', `/approvals/${actionId}/links`, viewer.token)).toEqual([403, 'access.denied']);
      const links = (await app.inject({ method: 'POST', url: `/approvals/${actionId}/links`, headers: as(operator.token) })).json() as { accept: string; reject: string };
      const shown = await app.inject({ method: 'GET', url: `/approval-links?token=${encodeURIComponent(links.accept)}` });
      expect(shown.json()).toMatchObject({ decision: 'accept', approval: { id: actionId, status: 'pending' } });
      expect(await jobStatus()).toBe('waiting');
      const decided = await app.inject({ method: 'POST', url: '/approval-links', payload: { token: links.accept } });
      expect(decided.json()).toMatchObject({ status: 'applying', decidedVia: 'link' });
      expect(await outcome('POST', '/approval-links', null, { token: links.accept })).toEqual([409, 'approval.already_resolved']);
      expect(await outcome('POST', '/approval-links', null, { token: links.reject })).toEqual([409, 'approval.already_resolved']);
    });

    it('refuses a tampered link (403) and an expired one (410), deciding nothing', async () => {
      const { world, actionId, jobStatus } = await waitingAction('ap-bad-link');
      const token = signApprovalLink(testSecretKey, { tenantId: world.tenant.id, actionId, decision: 'accept', expiresAt: new Date(Date.now() + 60_000) });
      const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
      expect(await outcome('POST', '/approval-links', null, { token: tampered })).toEqual([403, 'approval.link_invalid']);
      expect(await outcome('GET', `/approval-links?token=${encodeURIComponent(tampered)}`, null)).toEqual([403, 'approval.link_invalid']);
      const expired = signApprovalLink(testSecretKey, { tenantId: world.tenant.id, actionId, decision: 'accept', expiresAt: new Date(Date.now() - 1_000) });
      expect(await outcome('POST', '/approval-links', null, { token: expired })).toEqual([410, 'approval.link_expired']);
      expect(await jobStatus()).toBe('waiting');
    });
  });
});
