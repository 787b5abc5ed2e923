/**
 * How long a PGlite test database takes to start from the prepared data
 * directory, against the way it was made and loaded before (a default
 * initdb's dump, 16 MB WAL segment, three databases, 128 MB of shared
 * buffers, handed over as a plain Blob): in one process, and as the first
 * start in a fresh worker thread. The process holds PGlite's compiled wasm
 * module, as vitest's global setup does (`compilePgliteWasmModule`); a
 * worker's "before" start compiles bytes of its own, as every worker did
 * before, and a last line compares the two on the prepared directory. Prints
 * wall time and the process's CPU time (every thread's) per load; the
 * machine's load average is printed beside them. Needs the testkit built
 * (the worker thread loads `dist`).
 *
 *   pnpm --filter @data-machine/testkit bench
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { compareToBaseline, type ComparedSide } from '../src/bench/compare';
import { loadDataDir, preparePgliteDataDir } from '../src/database/pglite-data-dir';
import { compilePgliteWasmModule } from '../src/database/pglite-wasm-module';

const folder = await mkdtemp(path.join(tmpdir(), 'testkit-bench-'));
try {
  process.env.TESTKIT_CACHE_DIR = folder;
  const lean = await preparePgliteDataDir();
  const before = path.join(folder, 'before.tar');
  const fresh = await PGlite.create();
  await writeFile(before, new Uint8Array(await (await fresh.dumpDataDir('none')).arrayBuffer()));
  await fresh.close();
  const beforeBytes = new Uint8Array(await readFile(before));

  const start = async (loadDataDirBlob: () => Promise<Blob>): Promise<void> => {
    const pglite = await PGlite.create({ loadDataDir: await loadDataDirBlob() });
    await pglite.query('select 1');
    await pglite.close();
  };
  const sides = (measure: (work: () => Promise<void>) => Promise<number>): [ComparedSide, ComparedSide] => [
    { label: 'before', run: async () => ({ measuredMs: await measure(() => start(async () => new Blob([beforeBytes]))) }) },
    { label: 'prepared', run: async () => ({ measuredMs: await measure(() => start(() => loadDataDir(lean))) }) },
  ];
  const wall = async (work: () => Promise<void>): Promise<number> => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const cpu = async (work: () => Promise<void>): Promise<number> => {
    const started = process.cpuUsage();
    await work();
    const used = process.cpuUsage(started);
    return (used.user + used.system) / 1000;
  };
  // The first start in a fresh thread, as in a vitest worker (one per test file): module, wasm instance and all.
  const inWorker = (workerData: { before?: string; unshared?: boolean }) => (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./start-in-worker.js', import.meta.url), { workerData });
      worker.once('error', reject);
      worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench worker exited ${code}`))));
    });
  const threadSides = (measure: (work: () => Promise<void>) => Promise<number>): [ComparedSide, ComparedSide] => [
    { label: 'before', run: async () => ({ measuredMs: await measure(inWorker({ before, unshared: true })) }) },
    { label: 'prepared', run: async () => ({ measuredMs: await measure(inWorker({})) }) },
  ];
  const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
  process.stdout.write(`load average before: ${loadavg().map((value) => value.toFixed(2)).join(' ')}\n`);
  for (const [name, measure] of [['wall', wall], ['CPU', cpu]] as const) {
    const [baseline, subject] = sides(measure);
    await compareToBaseline({ name: `PGlite test database start (${name})`, baseline, subject, warmup: 1, rounds, perRound: 1, target: 0.7 });
  }
  // Held until the bench ends, as the global setup holds it until the run ends.
  const pgliteWasm = await compilePgliteWasmModule();
  for (const [name, measure] of [['wall', wall], ['CPU', cpu]] as const) {
    const [baseline, subject] = threadSides(measure);
    await compareToBaseline({ name: `first start in a fresh worker thread (${name})`, baseline, subject, warmup: 1, rounds, perRound: 1, target: 0.7 });
  }
  await compareToBaseline({
    name: 'first start in a fresh worker thread, prepared, wasm module held by the process (CPU)',
    baseline: { label: 'own module', run: async () => ({ measuredMs: await cpu(inWorker({ unshared: true })) }) },
    subject: { label: 'held module', run: async () => ({ measuredMs: await cpu(inWorker({})) }) },
    warmup: 1,
    rounds,
    perRound: 1,
  });
  // Reachable until here: every worker above found it in V8's module cache.
  void pgliteWasm;
  process.stdout.write(`load average after: ${loadavg().map((value) => value.toFixed(2)).join(' ')}\n`);
} finally {
  await rm(folder, { recursive: true, force: true });
}
