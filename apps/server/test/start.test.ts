import { rm } from 'node:fs/promises';
import { availableBackends, createTestDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, migratedDataDir, runCli, startServer, stop, type ServerProcess } from './support/server-process';

const deadline = 90_000;

interface JobBody {
  readonly id: string;
  readonly status: string;
  readonly statusReason: string | null;
  readonly engineData: { readonly outputs: Record<string, unknown> };
}

/** The owner token a server printed on its first start. */
function ownerToken(server: ServerProcess): string {
  const token = /owner token \(shown once, keep it\): (dmpt_\S+)/.exec(server.output())?.[1];
  if (token === undefined) throw new Error(`no owner token printed:\n${server.output()}`);
  return token;
}

/** A client of a running server, acting with `token` (by default the owner token it printed). */
function clientOf(server: ServerProcess, token = ownerToken(server)) {
  return async (method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`${server.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  };
}

/** Polls the job until it has ended; fails after the deadline. */
async function jobEnds(call: ReturnType<typeof clientOf>, agent: string, jobId: string): Promise<JobBody> {
  const until = Date.now() + 30_000;
  for (;;) {
    const job = (await call('GET', `/agents/${agent}/jobs/${jobId}`)).json as JobBody;
    if (['completed', 'completed_no_items', 'failed', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${jobId} still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Creates an agent, a pipeline of `steps` and a flow `main` fetching one item. */
async function automation(call: ReturnType<typeof clientOf>, agent: string, steps: readonly unknown[]): Promise<void> {
  const created = await call('POST', '/agents', { slug: agent, name: 'Copier', config: { instructions: 'Copy the item.', toolPolicy: { allowAutonomousWrites: true } } });
  expect(created.status).toBe(201);
  expect((await call('POST', `/agents/${agent}/pipelines`, { slug: 'copy', name: 'Copy', steps })).status).toBe(201);
  const flow = await call('POST', `/agents/${agent}/flows`, {
    pipeline: 'copy',
    slug: 'main',
    name: 'Main',
    stepConfig: { fetch: { handlerConfig: { items: [{ id: 'one', title: 'The first item' }] } } },
  });
  expect(flow.status).toBe(201);
}

const fetchStep = { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } };
const storeStep = { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } };

describe('data-machine start (API, workers and scheduler in one process, on PGlite)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let model: ModelServer;
  let dataDir: string;
  // One server for the file, its model the local one: a start on PGlite is the slow part on a shared machine.
  // The last case stops it with SIGTERM, so the cases run in order.
  let server: ServerProcess;
  beforeAll(async () => {
    model = await startModelServer();
    cleanups.push(() => model.close());
    dataDir = await migratedDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    server = await startServer({ DM_DATA_DIR: dataDir, OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'test-key', DEFAULT_MODEL: 'test-model' }, 'start');
    cleanups.push(() => exited(server.child, 'SIGKILL'));
  }, deadline);
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('runs a flow created over HTTP to completion and shows its job, record and log', { timeout: deadline }, async () => {
    const call = clientOf(server);
    const ready = await call('GET', '/ready');
    expect(ready).toMatchObject({ status: 200, json: { jobEngine: { installed: true, workers: 'running' } } });
    await automation(call, 'copier', [fetchStep, storeStep]);
    const run = await call('POST', '/agents/copier/flows/main/run');
    expect(run).toMatchObject({ status: 202, json: { status: 'pending', source: 'api' } });
    const job = await jobEnds(call, 'copier', (run.json as JobBody).id);
    expect({ status: job.status, reason: job.statusReason }).toEqual({ status: 'completed', reason: null });
    expect(job.engineData.outputs.store).toMatchObject({ id: expect.stringMatching(/^rec_/), created: true });
    const logs = (await call('GET', `/agents/copier/jobs/${job.id}/logs`)).json as { lines: { message: string }[] };
    expect(logs.lines.map((line) => line.message)).toEqual(['step started', 'items fetched', 'step started', 'step completed', 'job completed']);
  });

  it('lets an ai step that SIGTERM interrupts mid-call finish, completes its job, and exits 0', { timeout: deadline }, async () => {
    let arrived: () => void = () => undefined;
    const calledModel = new Promise<void>((resolve) => (arrived = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    model.reset();
    model.setHandler(async (request) => {
      // The first call is held until the server is shutting down: the job is mid-step when SIGTERM arrives.
      if (request.messages.every((message) => message.role !== 'tool')) {
        arrived();
        await released;
        return toolCallReply({ id: 'call_1', name: 'publish_store', arguments: { title: 'The first item, copied' } });
      }
      return textReply('Copied.');
    });
    const call = clientOf(server);
    await automation(call, 'writer', [fetchStep, { key: 'copy', type: 'ai' }, storeStep]);
    const jobId = ((await call('POST', '/agents/writer/flows/main/run')).json as JobBody).id;
    await calledModel;
    const code = exited(server.child, 'SIGTERM');
    await server.printed('data machine stopping');
    release();
    expect(await code).toBe(0);
    expect(model.completionRequests()).toHaveLength(2);
    // Read back by a process of its own on the same data: the job completed, and published once (through the ai step's tool).
    const shown = await runCli(['jobs', 'show', 'writer', jobId, '--as', 'owner@data-machine.local', '--json'], { DM_DATA_DIR: dataDir });
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    const job = JSON.parse(shown.stdout) as JobBody;
    expect({ status: job.status, copy: job.engineData.outputs.copy, store: job.engineData.outputs.store }).toEqual({
      status: 'completed',
      copy: expect.objectContaining({ text: 'Copied.', published: { store: expect.objectContaining({ created: true }) } }),
      store: expect.objectContaining({ created: false }),
    });
  });
});

describe('data-machine serve, worker and scheduler as separate processes on one Postgres', () => {
  it('runs a flow the API process enqueued in the worker process; each exits 0 on SIGTERM', { timeout: deadline }, async (test) => {
    if (!(await availableBackends()).includes('postgres')) test.skip('Postgres is not reachable (allowed outside CI only)');
    const database = await createTestDatabase('postgres');
    const environment = { DATABASE_URL: String(database.url), SECRET_KEY: 'k'.repeat(32) };
    const processes: ServerProcess[] = [];
    const running = async (mode: string): Promise<ServerProcess> => {
      const server = await startServer(environment, mode);
      processes.push(server);
      return server;
    };
    try {
      const init = await runCli(['init', '--email', 'ops@example.test'], environment);
      const token = /owner token \(shown once, keep it\): (dmpt_\S+)/.exec(init.stdout)?.[1] as string;
      // The API process migrates first; the others then find nothing to migrate.
      const api = await running('serve');
      const [worker, scheduler] = await Promise.all([running('worker'), running('scheduler')]);
      const call = clientOf(api, token);
      expect((await call('GET', '/ready')).json).toMatchObject({ status: 'ok', jobEngine: { installed: true, workers: 'elsewhere' } });
      await automation(call, 'copier', [fetchStep, storeStep]);
      const run = await call('POST', '/agents/copier/flows/main/run');
      const job = await jobEnds(call, 'copier', (run.json as JobBody).id);
      expect(job.status).toBe('completed');
      expect(worker.output()).toContain('"msg":"job ended"');
      const codes = await Promise.all([stop(api.child), stop(worker.child), stop(scheduler.child)]);
      // On a failure, what each process wrote says why it did not exit 0.
      expect(codes, `api:\n${api.output()}\nworker:\n${worker.output()}\nscheduler:\n${scheduler.output()}`).toEqual([0, 0, 0]);
    } finally {
      // A process left running would hold connections and keep the database from being dropped.
      await Promise.all(processes.map((server) => exited(server.child, 'SIGKILL')));
      await database.destroy();
    }
  });
});
