import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import {
  createDataMachineContext,
  createFlow,
  createJob,
  createJobEngine,
  createPipeline,
  findUserByEmail,
  handlerEffectKey,
  resolveScope,
  runUndo,
  type DataMachineContext,
  type DataMachineDatabase,
  type HandlerRegistry,
  type JobEngine,
} from 'data-machine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { cliRunner } from '../../test/support/cli-runner';
import { asEngine, digestPipeline } from '../../test/support/http-world';
import { findAdminCommand } from './admin-commands';
import { runCommandLine, type CommandLineServices } from './command-line';

/** What a command line wrote and how it ended, run as the binary runs it; `terminal`: whether stderr is a TTY. */
async function commandLine(context: DataMachineContext, argv: readonly string[], terminal: boolean, services: CommandLineServices = {}) {
  const command = findAdminCommand(argv);
  if (!command) throw new Error(`no command for ${argv.join(' ')}`);
  let stdout = '';
  let stderr = '';
  const ended = await runCommandLine(context, command, argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { isTTY: terminal, write: (text: string) => (stderr += text) } }, services);
  return { ...ended, stdout, stderr };
}

/** The progress lines a terminal showed: each redraw (`\r` and clear-to-end) is one. */
const progressLines = (stderr: string): string[] =>
  stderr
    .split('\r\u001b[K')
    .filter((line) => line !== '')
    .map((line) => line.trimEnd());

await describeEachDatabase<DataMachineDatabase>('the command line', (database) => {
  let context: DataMachineContext;
  let engine: JobEngine;
  let handlers: HandlerRegistry;
  let directory: string;
  let tenantId: string;
  const { cli } = cliRunner(() => context);
  const owner = ['--as', 'owner@line.test'] as const;
  // Reverses nothing, reports every effect reverted, and aborts the undo run it is in after each `batch` (a worker stopping part way).
  let batch = { size: Number.POSITIVE_INFINITY, done: 0, controller: new AbortController() };

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    const { pglite, url } = database.database;
    engine = createJobEngine({ supervise: false, database: pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 } });
    await engine.start();
    handlers = createDefaultHandlers(context);
    handlers.register({
      slug: 'tally',
      kind: 'publish',
      description: 'Counts what it is asked to publish (test).',
      configSchema: z.object({}),
      publish: async (request) => ({ id: request.idempotencyKey, created: true }),
      revert: async () => {
        batch.done += 1;
        if (batch.done % batch.size === 0) batch.controller.abort();
        return { status: 'reverted' };
      },
    });
    directory = await mkdtemp(path.join(tmpdir(), 'dm-command-line-'));
    await cli('users', 'create', '--email', 'owner@line.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'viewer@line.test', '--name', 'Viewer', '--as', 'system');
    tenantId = (JSON.parse(await cli('tenants', 'create', '--slug', 'line-co', '--name', 'Line Co', ...owner, '--json')) as { id: string }).id;
    await cli('members', 'add', '--user', 'viewer@line.test', '--role', 'editor', ...owner);
    await cli('agents', 'grant', 'default', '--user', 'viewer@line.test', '--role', 'viewer', ...owner);
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  describe('exit codes', () => {
    it('is 0 with the result on stdout; a refusal is 1 with one line on stderr; a command line it cannot read is 2', async () => {
      expect(await commandLine(context, ['agents', 'show', 'default', ...owner], false)).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^default: /), stderr: '' });
      expect(await commandLine(context, ['agents', 'token', 'create', 'default', '--label', 'x', '--ceiling', 'chat', '--as', 'viewer@line.test'], false)).toEqual({
        exitCode: 1,
        errorCode: 'access.denied',
        stdout: '',
        stderr: expect.stringMatching(/^data-machine: [^\n]+\n$/),
      });
      expect(await commandLine(context, ['agents', 'show', 'nope', ...owner], false)).toEqual({ exitCode: 1, errorCode: 'agent.not_found', stdout: '', stderr: 'data-machine: There is no agent "nope".\n' });
      expect(await commandLine(context, ['agents', 'show', 'default'], false)).toEqual({ exitCode: 2, stdout: '', stderr: 'data-machine: act as someone: --as <email>, --as system, or --token <token>\n' });
    });
  });

  describe('pipelines import of many flows', () => {
    async function documentWithFlows(name: string, count: number): Promise<string> {
      const file = path.join(directory, `${name}.json`);
      const flows = Array.from({ length: count }, (_, index) => ({ slug: `${name}-${index + 1}`, name: `${name} ${index + 1}` }));
      await writeFile(file, JSON.stringify({ format: 'data-machine.pipeline', version: 1, pipeline: { ...digestPipeline, slug: name }, flows }));
      return file;
    }

    it('shows `import: n/N flows` on a terminal, one redraw per flow, ending the line', async () => {
      const result = await commandLine(context, ['pipelines', 'import', 'default', '--file', await documentWithFlows('many', 12), ...owner], true);
      expect(result).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^imported pipeline many with 12 flow\(s\)/) });
      expect(progressLines(result.stderr)).toEqual(Array.from({ length: 12 }, (_, index) => `import: ${index + 1}/12 flows`));
      expect(result.stderr.endsWith('\n')).toBe(true);
    });

    it('shows nothing when stderr is not a terminal, nor with --json', async () => {
      expect(await commandLine(context, ['pipelines', 'import', 'default', '--file', await documentWithFlows('piped', 5), ...owner], false)).toMatchObject({ exitCode: 0, stderr: '' });
      const json = await commandLine(context, ['pipelines', 'import', 'default', '--file', await documentWithFlows('as-json', 5), ...owner, '--json'], true);
      expect(json).toMatchObject({ exitCode: 0, stderr: '' });
      expect(JSON.parse(json.stdout)).toMatchObject({ pipeline: { slug: 'as-json' } });
    });
  });

  describe('jobs undo --wait of a large fan-out', () => {
    let fanOuts = 0;

    /** A completed parent job with `children` completed children, each with `perChild` tally effects recorded. */
    async function fanOut(slug: string, children: number, perChild: number): Promise<string> {
      fanOuts += 1;
      return asEngine(database, tenantId, async (trx) => {
        const flow = await trx.selectFrom('dm_flows').select(['id', 'agent_id']).where('slug', '=', slug).executeTakeFirstOrThrow();
        const now = new Date();
        const parent = (await createJob(context, trx, { flowId: flow.id, source: 'manual', idempotencyKey: `fan-out-${fanOuts}` })).job.id;
        for (let child = 0; child < children; child += 1) {
          const childId = (await createJob(context, trx, { flowId: flow.id, source: 'manual', idempotencyKey: `fan-out-${fanOuts}-child-${child}` })).job.id;
          await trx.updateTable('dm_jobs').set({ parent_job_id: parent }).where('id', '=', childId).execute();
          await trx
            .insertInto('dm_job_effects')
            .values(
              Array.from({ length: perChild }, (_, index) => {
                const ref = `${child}-${index}`;
                return {
                  tenant_id: tenantId,
                  agent_id: flow.agent_id,
                  job_id: childId,
                  key: handlerEffectKey('store', ref),
                  kind: 'tally_made',
                  detail: JSON.stringify({ handler: 'tally', step: 'store', ref, reversible: true, undo: {} }),
                  created_at: now,
                };
              }),
            )
            .execute();
        }
        await trx.updateTable('dm_jobs').set({ status: 'completed', finished_at: now }).where('flow_id', '=', flow.id).execute();
        return parent;
      });
    }

    async function tallyFlow(slug: string): Promise<void> {
      const user = await findUserByEmail(context, 'owner@line.test');
      const scope = await resolveScope(context, { kind: 'user', userId: user?.id ?? '', channel: 'cli' }, tenantId);
      await createPipeline(context, scope, handlers, 'default', { slug, name: slug, steps: [{ key: 'fetch', type: 'fetch', handler: 'json_items', config: { items: [] } }, { key: 'store', type: 'publish', handler: 'tally' }] });
      await createFlow(context, scope, handlers, 'default', { pipeline: slug, slug, name: slug });
    }

    /** A worker that runs the job's pending undo each time the command pauses, stopping after `size` more effects. */
    function workerInPauses(size: number): CommandLineServices['pause'] {
      return async () => {
        batch = { size, done: batch.done, controller: new AbortController() };
        const undo = await asEngine(database, tenantId, (trx) => trx.selectFrom('dm_undos').select('id').where('status', 'in', ['pending', 'processing']).executeTakeFirstOrThrow());
        await runUndo({ context, handlers }, { tenantId, undoId: undo.id }, batch.controller.signal).catch((error: unknown) => {
          if (!batch.controller.signal.aborted) throw error;
        });
      };
    }

    it('shows `undo: n/N effects` on a terminal as a worker reverses them, then prints the report', async () => {
      await tallyFlow('fan');
      const parent = await fanOut('fan', 3, 8);
      batch = { size: Number.POSITIVE_INFINITY, done: 0, controller: new AbortController() };
      const result = await commandLine(context, ['jobs', 'undo', 'default', parent, '--wait', ...owner], true, { handlers, engine: async () => engine, pause: workerInPauses(8) });
      expect(result).toMatchObject({ exitCode: 0 });
      expect(progressLines(result.stderr)).toEqual(['undo: 0/24 effects', 'undo: 8/24 effects', 'undo: 16/24 effects', 'undo: 24/24 effects']);
      expect(result.stdout).toMatch(/: completed, 24 reverted, 0 skipped, 0 failed\n$/);
    }, 60_000);

    it('waits silently when stderr is not a terminal, and without --wait only asks for the undo', async () => {
      await tallyFlow('quiet');
      const parent = await fanOut('quiet', 2, 5);
      batch = { size: Number.POSITIVE_INFINITY, done: 0, controller: new AbortController() };
      const waited = await commandLine(context, ['jobs', 'undo', 'default', parent, '--wait', ...owner], false, { handlers, engine: async () => engine, pause: workerInPauses(4) });
      expect(waited).toMatchObject({ exitCode: 0, stderr: '', stdout: expect.stringMatching(/: completed, 10 reverted, 0 skipped, 0 failed\n$/) });
      const other = await fanOut('quiet', 1, 1);
      const asked = await commandLine(context, ['jobs', 'undo', 'default', other, ...owner], true, { handlers, engine: async () => engine });
      expect(asked).toMatchObject({ exitCode: 0, stderr: '', stdout: expect.stringMatching(/: pending, 0 reverted, 0 skipped, 0 failed; read it with: jobs undo-report /) });
    }, 60_000);
  });
});
