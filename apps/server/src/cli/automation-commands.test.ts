import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import {
  createDataMachineContext,
  createJob,
  createJobEffectsRecorder,
  handlerEffectsFor,
  runUndo,
  writeJobLog,
  type DataMachineContext,
  type DataMachineDatabase,
  type JobEngine,
} from 'data-machine';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { cliRunner } from '../../test/support/cli-runner';
import { asEngine, digestPipeline } from '../../test/support/http-world';
import { createEnqueueOnlyJobEngine } from './enqueue-only-job-engine';

await describeEachDatabase<DataMachineDatabase>('automation commands', (database) => {
  let context: DataMachineContext;
  let directory: string;
  let documentFile: string;
  let tenantId: string;

  let engine: JobEngine;
  const { cli, failure } = cliRunner(
    () => context,
    () => engine,
  );
  const owner = ['--as', 'owner@auto.test'] as const;

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    // The engine the binary's commands run with: never started, it enqueues on the suite's database; no worker takes the runs.
    const { pglite, url } = database.database;
    engine = createEnqueueOnlyJobEngine(pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 });
    directory = await mkdtemp(path.join(tmpdir(), 'dm-cli-'));
    documentFile = path.join(directory, 'digest.json');
    const document = { format: 'data-machine.pipeline', version: 1, pipeline: digestPipeline, flows: [{ slug: 'daily', name: 'Daily' }] };
    await writeFile(documentFile, JSON.stringify(document));
    await cli('users', 'create', '--email', 'owner@auto.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'viewer@auto.test', '--name', 'Viewer', '--as', 'system');
    await cli('users', 'create', '--email', 'outsider@auto.test', '--name', 'Outsider', '--as', 'system');
    tenantId = (JSON.parse(await cli('tenants', 'create', '--slug', 'auto-co', '--name', 'Auto Co', ...owner, '--json')) as { id: string }).id;
    await cli('tenants', 'create', '--slug', 'elsewhere', '--name', 'Elsewhere', '--as', 'outsider@auto.test');
    await cli('members', 'add', '--user', 'viewer@auto.test', '--role', 'editor', ...owner);
    await cli('agents', 'grant', 'default', '--user', 'viewer@auto.test', '--role', 'viewer', ...owner);
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('imports a pipeline document from a file and exports it back; a taken slug fails unless renamed', async () => {
    expect(await cli('pipelines', 'import', 'default', '--file', documentFile, ...owner)).toBe('imported pipeline digest with 1 flow(s): daily\n');
    const exported = JSON.parse(await cli('pipelines', 'export', 'default', 'digest', ...owner)) as { format: string; pipeline: { slug: string }; flows: { slug: string }[] };
    expect(exported).toMatchObject({ format: 'data-machine.pipeline', pipeline: { slug: 'digest' }, flows: [{ slug: 'daily' }] });
    expect(await failure('pipelines', 'import', 'default', '--file', documentFile, ...owner)).toBe('pipeline.slug_taken');
    expect(await cli('pipelines', 'import', 'default', '--file', documentFile, '--on-conflict', 'rename', ...owner)).toBe('imported pipeline digest-2 with 1 flow(s): daily-2\n');
    expect(await failure('pipelines', 'import', 'default', '--file', documentFile, '--on-conflict', 'merge', ...owner)).toBe('usage: --on-conflict must be one of fail, rename (got "merge")');
    expect(await failure('pipelines', 'import', 'default', '--file', path.join(directory, 'missing.json'), ...owner)).toMatch(/^usage: --file must name a readable JSON document \(ENOENT/);
    expect(await failure('pipelines', 'import', 'default', '--file', documentFile, '--as', 'viewer@auto.test')).toBe('access.denied');
  });

  it('lists, pauses and resumes flows; a viewer may list but not pause; another tenant is missing', async () => {
    const table = await cli('flows', 'list', 'default', ...owner);
    expect(table.split('\n')[0]).toMatch(/^slug\s+name\s+paused\s+schedule\s+id$/);
    expect(table).toMatch(/^daily\s+Daily\s+false\s+manual\s+flow_\w+$/m);
    expect((JSON.parse(await cli('flows', 'list', 'default', '--pipeline', 'digest-2', ...owner, '--json')) as { slug: string }[]).map((flow) => flow.slug)).toEqual(['daily-2']);
    expect(await cli('flows', 'pause', 'default', 'daily', ...owner)).toBe('daily is paused\n');
    expect(await cli('flows', 'resume', 'default', 'daily', ...owner)).toBe('daily is active\n');
    expect(await cli('flows', 'list', 'default', '--as', 'viewer@auto.test')).toMatch(/^daily\s/m);
    expect(await failure('flows', 'pause', 'default', 'daily', '--as', 'viewer@auto.test')).toBe('access.denied');
    expect(await failure('flows', 'list', 'default', '--tenant', 'auto-co', '--as', 'outsider@auto.test')).toBe('tenant.not_found');
    expect(await failure('flows', 'pause', 'default', 'nowhere', ...owner)).toBe('flow.not_found');
  });

  it("adds to, lists and clears a step's prompt and config-patch queues", async () => {
    expect(await cli('flows', 'queue', 'add', 'default', 'daily', 'think', '--prompt', 'Summarise the news', ...owner)).toMatch(/^added qen_\w+ to the prompt queue of daily\/think\n$/);
    await cli('flows', 'queue', 'add', 'default', 'daily', 'think', '--prompt', 'Then the weather', ...owner);
    await cli('flows', 'queue', 'add', 'default', 'daily', 'fetch', '--patch', '{"keyField":"slug"}', ...owner);
    const prompts = await cli('flows', 'queue', 'list', 'default', 'daily', 'think', '--queue', 'prompt', ...owner);
    expect(prompts.split('\n').slice(1, 3).map((line) => line.split(/\s{2,}/)[1])).toEqual(['Summarise the news', 'Then the weather']);
    const patches = JSON.parse(await cli('flows', 'queue', 'list', 'default', 'daily', 'fetch', '--queue', 'config_patch', ...owner, '--json')) as { body: unknown }[];
    expect(patches.map((entry) => entry.body)).toEqual([{ keyField: 'slug' }]);
    expect(await failure('flows', 'queue', 'add', 'default', 'daily', 'think', '--prompt', 'x', '--patch', '{}', ...owner)).toMatch(/^usage: give exactly one of/);
    expect(await failure('flows', 'queue', 'add', 'default', 'daily', 'fetch', '--patch', 'not json', ...owner)).toBe('usage: --patch must be a JSON object');
    expect(await failure('flows', 'queue', 'add', 'default', 'daily', 'nowhere', '--prompt', 'x', ...owner)).toBe('queue.unknown_step');
    expect(await failure('flows', 'queue', 'list', 'default', 'daily', 'think', '--queue', 'backlog', ...owner)).toMatch(/^usage: --queue must be one of prompt, config_patch/);
    expect(await cli('flows', 'queue', 'clear', 'default', 'daily', 'think', '--queue', 'prompt', ...owner)).toBe('cleared 2 entries\n');
    expect(await cli('flows', 'queue', 'list', 'default', 'daily', 'think', '--queue', 'prompt', ...owner)).toBe('(none)\n');
  });

  it('lists jobs a page at a time, shows one with its log, and cancels it once', async () => {
    const flowId = (JSON.parse(await cli('flows', 'list', 'default', ...owner, '--json')) as { id: string; slug: string }[]).find((flow) => flow.slug === 'daily')?.id ?? '';
    const jobs = [];
    for (const key of ['one', 'two', 'three']) jobs.push(await asEngine(database, tenantId, async (trx) => (await createJob(context, trx, { flowId, source: 'manual', idempotencyKey: key })).job));
    const job = jobs[0]!;
    await asEngine(database, tenantId, (trx) => writeJobLog(context, trx, { jobId: job.id, level: 'info', message: 'fetched 3 items' }));

    const firstPage = await cli('jobs', 'list', 'default', '--limit', '2', ...owner);
    expect(firstPage.split('\n')[0]).toMatch(/^id\s+status\s+reason\s+source\s+created\s+finished$/);
    const cursor = /^more: --cursor (\S+)$/m.exec(firstPage)?.[1] ?? '';
    expect(cursor).not.toBe('');
    const secondPage = JSON.parse(await cli('jobs', 'list', 'default', '--limit', '2', '--cursor', cursor, ...owner, '--json')) as { items: { id: string }[]; nextCursor: string | null };
    expect(secondPage.nextCursor).toBeNull();
    const listed = [...firstPage.matchAll(/^(job_\w+)/gm)].map((match) => match[1]).concat(secondPage.items.map((item) => item.id));
    expect(new Set(listed)).toEqual(new Set(jobs.map((created) => created.id)));
    expect(await cli('jobs', 'list', 'default', '--status', 'failed', ...owner)).toBe('(none)\n');
    expect(await cli('jobs', 'list', 'default', '--since', '2999-01-01T00:00:00Z', ...owner)).toBe('(none)\n');

    expect(await cli('jobs', 'show', 'default', job.id, ...owner)).toMatch(new RegExp(`^${job.id}: pending, created `));
    expect(await cli('jobs', 'logs', 'default', job.id, ...owner)).toMatch(/^\S+Z\s+info\s+fetched 3 items$/m);
    expect(await cli('jobs', 'cancel', 'default', job.id, ...owner)).toBe(`${job.id}: cancelled (cancelled_by_operator), created ${job.createdAt.toISOString()}\n`);
    expect(await failure('jobs', 'cancel', 'default', job.id, ...owner)).toBe('job.ended');
    expect(await failure('jobs', 'show', 'default', job.id, '--as', 'viewer@auto.test')).toBe('access.denied');
    expect(await failure('jobs', 'show', 'default', 'job_missing', ...owner)).toBe('job.not_found');
    expect(await failure('jobs', 'list', 'default', '--since', 'yesterday', ...owner)).toBe('usage: --since must be an ISO instant (got "yesterday")');
    expect(await failure('jobs', 'list', 'default', '--status', 'exploded', ...owner)).toMatch(/^usage: --status must be one of pending, /);
    expect(await failure('jobs', 'list', 'default', '--limit', 'many', ...owner)).toBe('usage: --limit must be a whole number');
    expect(await failure('jobs', 'list', 'default', '--limit', '0', ...owner)).toBe('input.invalid');
  });

  it('runs a flow now (the same --idempotency-key gives the same job) and retries a cancelled job; a viewer may do neither', async () => {
    const started = JSON.parse(await cli('flows', 'run', 'default', 'daily', '--idempotency-key', 'cli-1', ...owner, '--json')) as { id: string; status: string; source: string };
    expect({ status: started.status, source: started.source }).toEqual({ status: 'pending', source: 'manual' });
    expect(await cli('flows', 'run', 'default', 'daily', '--idempotency-key', 'cli-1', ...owner)).toMatch(new RegExp(`^already started ${started.id}: pending`));
    expect(await failure('flows', 'run', 'default', 'daily', '--as', 'viewer@auto.test')).toBe('access.denied');
    expect(await failure('jobs', 'retry', 'default', started.id, ...owner)).toBe('job.not_retryable');
    await cli('jobs', 'cancel', 'default', started.id, ...owner);
    expect(await failure('jobs', 'retry', 'default', started.id, '--as', 'viewer@auto.test')).toBe('access.denied');
    const retried = JSON.parse(await cli('jobs', 'retry', 'default', started.id, ...owner, '--json')) as { id: string; source: string };
    expect(retried.source).toBe('retry');
    expect(await cli('jobs', 'retry', 'default', started.id, ...owner)).toMatch(new RegExp(`^already retried as ${retried.id}: pending`));
  });

  it('undoes an ended job (--json gives the pending undo), refuses a second while it is pending and a viewer, and reads the report', async () => {
    const started = JSON.parse(await cli('flows', 'run', 'default', 'daily', ...owner, '--json')) as { id: string };
    expect(await failure('jobs', 'undo', 'default', started.id, ...owner)).toBe('undo.job_live');
    await cli('jobs', 'cancel', 'default', started.id, ...owner);
    expect(await failure('jobs', 'undo', 'default', started.id, '--as', 'viewer@auto.test')).toBe('access.denied');
    const undo = JSON.parse(await cli('jobs', 'undo', 'default', started.id, ...owner, '--json')) as { id: string; status: string; jobId: string };
    expect([undo.status, undo.jobId]).toEqual(['pending', started.id]);
    expect(await failure('jobs', 'undo', 'default', started.id, ...owner)).toBe('undo.in_progress');
    await runUndo({ context, handlers: createDefaultHandlers(context) }, { tenantId, undoId: undo.id });
    const report = JSON.parse(await cli('jobs', 'undo-report', 'default', started.id, undo.id, ...owner, '--json')) as { undo: { status: string }; effects: unknown[] };
    expect([report.undo.status, report.effects]).toEqual(['completed', []]);
    expect(await cli('jobs', 'undo-report', 'default', started.id, undo.id, ...owner)).toContain(`undo ${undo.id} of ${started.id}: completed, 0 reverted, 0 skipped, 0 failed`);
    expect(await failure('jobs', 'undo-report', 'default', started.id, 'undo_missing', ...owner)).toBe('undo.not_found');
  });

  it("lists a job's effects with their undo state (--json the page), refusing a viewer and a missing job", async () => {
    const started = JSON.parse(await cli('flows', 'run', 'default', 'daily', ...owner, '--json')) as { id: string };
    await cli('jobs', 'cancel', 'default', started.id, ...owner);
    expect(await cli('jobs', 'effects', 'default', started.id, ...owner)).toBe('(none)\n');
    const effects = handlerEffectsFor(createJobEffectsRecorder(context, tenantId, started.id), 'store', 'webhook');
    await effects.record({ kind: 'webhook_delivered', ref: 'delivery:7', reversible: false, undo: { url: 'https://hooks.example/in' } });
    const undo = JSON.parse(await cli('jobs', 'undo', 'default', started.id, ...owner, '--json')) as { id: string };
    await runUndo({ context, handlers: createDefaultHandlers(context) }, { tenantId, undoId: undo.id });

    const table = (await cli('jobs', 'effects', 'default', started.id, ...owner)).split('\n');
    expect(table[0]).toMatch(/^time\s+step\s+handler\s+kind\s+ref\s+url\s+undo\s+job$/);
    expect(table[1]).toMatch(new RegExp(`^\\S+Z\\s+store\\s+webhook\\s+webhook_delivered\\s+delivery:7\\s+https://hooks.example/in\\s+skipped \\(not_reversible\\)\\s+${started.id}$`));
    const page = JSON.parse(await cli('jobs', 'effects', 'default', started.id, ...owner, '--json')) as { items: { ref: string; undo: { status: string; undoId: string } }[]; nextCursor: null };
    expect(page).toMatchObject({ items: [{ ref: 'delivery:7', undo: { status: 'skipped', undoId: undo.id } }], nextCursor: null });
    expect(await failure('jobs', 'effects', 'default', started.id, '--as', 'viewer@auto.test')).toBe('access.denied');
    expect(await failure('jobs', 'effects', 'default', 'job_missing', ...owner)).toBe('job.not_found');
  });
});
