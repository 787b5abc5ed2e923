// A job worker in its own process, for the tests that kill one (chaos) or
// run two (exactly once). Plain JavaScript on the built packages (`pnpm -r
// run build` first), so it starts in a fraction of a second instead of
// transforming the sources. Configured by environment: DATABASE_URL,
// WORKER_MODE (`hang_after_effect` | `count` | `bench`), and for the bench
// WORKER_LOOPS and WORKER_BATCH_SIZE (default 1 and 2). Prints READY once it
// takes work, EFFECT <job> after each side effect. In `bench` mode it prints
// ENDED <job> when a job ended, and a line KICK on stdin wakes its polling
// loops now (the parent enqueued work), as `worker.notify()` does for work
// enqueued in the worker's own process.
import { randomUUID } from 'node:crypto';
import { connect } from '@data-machine/testkit';
import { createDataMachineContext, createHandlerRegistry, createHandlerSteps, createJobEngine, createJobWorker, createRecordsHandler, jsonItemsHandler } from 'data-machine';

const url = process.env.DATABASE_URL;
const mode = process.env.WORKER_MODE ?? 'count';
const db = connect(url);
const context = createDataMachineContext({ db });
const engine = createJobEngine({ database: { connectionString: url, max: 4 }, pollingIntervalSeconds: 0.5, supervise: false });
const records = createRecordsHandler(context);
const handlers = createHandlerRegistry([jsonItemsHandler, records]);

// Not retry-safe: each run appends a record under a fresh key, so a second run shows as a second row.
const sideEffect = {
  type: 'upsert',
  async execute(input, step) {
    const call = { tenantId: step.tenantId, agentId: step.agentId, flowId: step.flowId, jobId: step.jobId, stepKey: step.step.key, logger: step.logger, signal: step.signal };
    await records.publish({ body: { pid: process.pid }, idempotencyKey: randomUUID() }, { collection: 'effects' }, call);
    process.stdout.write(`EFFECT ${step.jobId}\n`);
    // Hang mid-step until killed: the worker vanishes with the job in hand.
    if (mode === 'hang_after_effect') await new Promise(() => undefined);
    // A step that takes a while (one worker cannot drain the queue before the other polls; the bench's I/O-bound step).
    await new Promise((resolve) => setTimeout(resolve, mode === 'bench' ? 20 : 100));
    return { kind: 'output', output: input.value };
  },
};

const worker = createJobWorker({
  context,
  engine,
  handlers,
  steps: { ...createHandlerSteps(handlers), upsert: sideEffect },
  batchSize: Number(process.env.WORKER_BATCH_SIZE ?? 2),
  loops: Number(process.env.WORKER_LOOPS ?? 1),
  // The bench waits for these instead of polling the database.
  ...(mode === 'bench' ? { onExecuted: (message, outcome) => outcome !== 'retrying' && outcome !== 'stale' && process.stdout.write(`ENDED ${message.jobId}\n`) } : {}),
});
await engine.start();
await worker.start();
if (mode === 'bench') process.stdin.on('data', (chunk) => chunk.toString().includes('KICK') && worker.notify());
process.stdout.write('READY\n');

process.on('SIGTERM', () => {
  void worker
    .stop()
    .then(() => engine.stop())
    .then(() => db.destroy())
    .then(() => process.exit(0));
});
