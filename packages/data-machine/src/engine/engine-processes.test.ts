import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { PipelineStepInput, Step } from '../steps/step';
import { createRecordsHandler } from '../handlers/records-handler';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, eventually, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { itemsConfig, runWorld, type RunWorld } from '../../test/support/flow-run-fixture';
import { builtInHandlers } from '../../test/support/pipeline-fixture';
import { startFlowRun } from './flow-run';
import type { JobEngine } from './job-engine';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const workerScript = path.join(packageRoot, 'test/support/engine-worker-process.mjs');

/** A worker process; resolves once it takes work. `lines` collects what it printed. */
async function workerProcess(url: string, mode: 'hang_after_effect' | 'count'): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, [workerScript], {
    cwd: packageRoot,
    env: { ...process.env, DATABASE_URL: url, WORKER_MODE: mode },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  await eventually(async () => lines.includes('READY') || child.exitCode !== null, () => 'the worker process started');
  if (!lines.includes('READY')) throw new Error(`the worker process exited with ${child.exitCode}`);
  return { child, lines };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

const effectSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'effect', type: 'upsert', handler: 'records', config: { collection: 'effects' } },
];

await describeEachDatabase<DataMachineDatabase>('job workers in processes', (database) => {
  // Processes share a database only over a socket: Postgres.
  const onPostgres = database.backend === 'postgres';
  let context: TestContext;
  // Sends with the shortest expiry pg-boss allows, so a vanished worker's job comes back in about a second.
  let engine: JobEngine;
  let doomed: Awaited<ReturnType<typeof workerProcess>>;
  let counters: Awaited<ReturnType<typeof workerProcess>>[];
  const children: ChildProcess[] = [];
  let chaosWorld: RunWorld;
  let countWorld: RunWorld;
  beforeAll(async () => {
    if (!onPostgres) return;
    context = await migratedContext(database.db);
    chaosWorld = await runWorld(context, 'chaos', effectSteps, { stepConfig: itemsConfig(['a']) });
    countWorld = await runWorld(context, 'two-workers', effectSteps.slice(1), {});
    engine = engineOn(database, { expireInSeconds: 1, redeliveries: 2 });
    const url = database.database.url as string;
    [doomed, ...counters] = await Promise.all([workerProcess(url, 'hang_after_effect'), workerProcess(url, 'count'), workerProcess(url, 'count')]);
    children.push(doomed.child, ...counters.map((counter) => counter.child));
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
  });

  const effectsOf = (world: RunWorld) => database.db.selectFrom('dm_records').select(['job_id', 'body']).where('flow_id', '=', world.flowId).where('collection', '=', 'effects').execute();

  it.runIf(onPostgres)('a worker killed mid-step: the job ends with a reason, never stuck, and the unsafe side effect happened at most once', async () => {
    // Only the doomed worker runs while the job starts.
    for (const counter of counters) counter.child.kill('SIGSTOP');
    const world = chaosWorld;
    const { job } = await startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'manual' });
    await eventually(async () => doomed.lines.includes(`EFFECT ${job.id}`), () => 'the doomed worker performed the side effect', 30_000);
    doomed.child.kill('SIGKILL');
    await exited(doomed.child);
    // Another worker (this process), running pg-boss maintenance: the expired job comes back to it.
    const handlers = builtInHandlers(context);
    // The same step as the doomed worker's: not retry-safe, a fresh record each run.
    const unsafeEffect: Step = {
      type: 'upsert',
      async execute(input, step) {
        const call = { tenantId: step.tenantId, agentId: step.agentId, flowId: step.flowId, jobId: step.jobId, stepKey: step.step.key, logger: step.logger, signal: step.signal };
        await createRecordsHandler(context).publish({ body: { pid: process.pid }, idempotencyKey: randomUUID() }, { collection: 'effects' }, call);
        return { kind: 'output', output: input.value };
      },
    };
    const survivor = await runningWorker(context, engineOn(database, { supervise: true, maintenanceIntervalSeconds: 1 }), handlers, { upsert: unsafeEffect });
    try {
      const ended = await jobReaches(context, world.tenantId, job.id, ['completed', 'failed'], 30_000);
      expect({ status: ended.status, reason: ended.status_reason, error: ended.error_code, attempts: ended.attempts }).toEqual({
        status: 'failed',
        reason: 'permanent_error',
        error: 'step.unsafe_retry',
        attempts: 2,
      });
      expect(await effectsOf(world)).toHaveLength(1);
    } finally {
      await survivor.stop();
      for (const counter of counters) counter.child.kill('SIGCONT');
    }
  });

  it.runIf(onPostgres)('two worker processes on one database: each of N jobs runs exactly once, and both take work', async () => {
    const world = countWorld;
    const workers = counters;
    const jobs = 20;
    await Promise.all(Array.from({ length: jobs }, () => startFlowRun(context, engine, { tenantId: world.tenantId, flowId: world.flowId, source: 'api' })));
    const ended = () => database.db.selectFrom('dm_jobs').select('status').where('flow_id', '=', world.flowId).where('status', 'in', ['completed', 'failed']).execute();
    await eventually(async () => (await ended()).length === jobs, () => `all ${jobs} jobs ended`);
    expect((await ended()).every((job) => job.status === 'completed')).toBe(true);
    const effects = await effectsOf(world);
    const perJob = new Map<string, number>();
    for (const effect of effects) perJob.set(effect.job_id as string, (perJob.get(effect.job_id as string) ?? 0) + 1);
    expect({ jobs: perJob.size, runs: effects.length, most: Math.max(...perJob.values()) }).toEqual({ jobs, runs: jobs, most: 1 });
    const pids = new Set(effects.map((effect) => (effect.body as { pid: number }).pid));
    expect(pids).toEqual(new Set(workers.map((worker) => worker.child.pid)));
  });
});
