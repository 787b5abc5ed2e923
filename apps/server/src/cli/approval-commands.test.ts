import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import { createDataMachineContext, createJob, createJobEngine, type DataMachineContext, type DataMachineDatabase, type JobEngine } from 'data-machine';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';
import { asEngine, digestPipeline } from '../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('approval commands', (database) => {
  let context: DataMachineContext;
  let engine: JobEngine;
  let tenantId: string;
  let directory: string;
  const { cli, failure } = cliRunner(
    () => context,
    () => engine,
  );
  const owner = ['--as', 'owner@appr.test'] as const;
  const viewer = ['--as', 'viewer@appr.test'] as const;

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    const { pglite, url } = database.database;
    engine = createJobEngine({ supervise: false, database: pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 } });
    await engine.start();
    directory = await mkdtemp(path.join(tmpdir(), 'dm-appr-'));
    await cli('users', 'create', '--email', 'owner@appr.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'viewer@appr.test', '--name', 'Viewer', '--as', 'system');
    tenantId = (JSON.parse(await cli('tenants', 'create', '--slug', 'appr-co', '--name', 'Appr Co', ...owner, '--json')) as { id: string }).id;
    await cli('members', 'add', '--user', 'viewer@appr.test', '--role', 'editor', ...owner);
    await cli('agents', 'grant', 'default', '--user', 'viewer@appr.test', '--role', 'viewer', ...owner);
  });
  afterAll(async () => {
    await engine.stop();
    await rm(directory, { recursive: true, force: true });
  });

  /** A job waiting at step `think` for the decision on action `id` (the rows the ai step and the engine write). */
  async function waitingAction(id: string, pipelineSlug: string): Promise<void> {
    const document = { format: 'data-machine.pipeline', version: 1, pipeline: { ...digestPipeline, slug: pipelineSlug }, flows: [{ slug: `${pipelineSlug}-flow`, name: 'Flow' }] };
    const file = path.join(directory, `${pipelineSlug}.json`);
    await writeFile(file, JSON.stringify(document));
    await cli('pipelines', 'import', 'default', '--file', file, ...owner);
    await asEngine(database, tenantId, async (trx) => {
      const flow = await trx.selectFrom('dm_flows').select(['id', 'agent_id']).where('slug', '=', `${pipelineSlug}-flow`).executeTakeFirstOrThrow();
      const { job } = await createJob(context, trx, { flowId: flow.id, source: 'manual', createdBy: null });
      await trx.updateTable('dm_jobs').set({ status: 'waiting', status_reason: 'signal', engine_data: JSON.stringify({ outputs: {}, waiting: { step: 'think', signal: `approval:${id}`, id: 'w1' } }) }).where('id', '=', job.id).execute();
      const now = new Date();
      await trx
        .insertInto('dm_pending_actions')
        .values({ id, tenant_id: tenantId, agent_id: flow.agent_id, job_id: job.id, step_key: 'think', tool_call_id: 'c1', kind: 'publish', summary: 'Publish', preview: '{}', tool_name: 'publish_store', input: '{"title":"A"}', triggered_by: null, status: 'pending', expires_at: new Date(now.getTime() + 3_600_000), created_at: now, updated_at: now })
        .execute();
    });
  }

  it('lists pending actions as a table and as JSON, for a viewer too', async () => {
    await waitingAction('act_cli_list', 'listing');
    expect((await cli('approvals', 'list', '--status', 'pending', ...viewer)).split('\n')[0]).toMatch(/^id\s+status\s+tool\s+summary\s+job\s+expires$/);
    const listed = JSON.parse(await cli('approvals', 'list', '--agent', 'default', ...viewer, '--json')) as { items: { id: string; input: unknown }[] };
    expect(listed.items).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'act_cli_list', input: { title: 'A' } })]));
    expect(await failure('approvals', 'list', '--status', 'maybe', ...viewer)).toMatch(/^usage: --status must be one of/);
  });

  it('accepts and rejects as an operator and above; a viewer is refused; a second decision is a conflict', async () => {
    await waitingAction('act_cli_accept', 'accepting');
    await waitingAction('act_cli_reject', 'rejecting');
    expect(await failure('approvals', 'accept', 'act_cli_accept', ...viewer)).toBe('access.denied');
    expect(await cli('approvals', 'accept', 'act_cli_accept', ...owner)).toBe('act_cli_accept: applying\n');
    expect(JSON.parse(await cli('approvals', 'reject', 'act_cli_reject', '--reason', 'Not now.', ...owner, '--json'))).toMatchObject({ status: 'rejected', reason: 'Not now.' });
    expect(await failure('approvals', 'reject', 'act_cli_accept', ...owner)).toBe('approval.already_resolved');
  });
});
