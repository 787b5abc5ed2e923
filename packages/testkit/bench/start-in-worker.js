// @ts-check
/**
 * Worker thread of `pglite-load.bench.ts`: starts one PGlite, as the first
 * database of a fresh vitest worker does, and exits. Plain JavaScript on the
 * built testkit (`dist`): a worker thread does not inherit tsx's loader on
 * Node 20. `workerData.before` names the old dump, handed over as a plain
 * Blob; without it the prepared directory is loaded the testkit's way
 * (`TESTKIT_CACHE_DIR` is inherited from the bench). With
 * `workerData.unshared`, PGlite gets a wasm module compiled here from bytes
 * no other thread has compiled (`pglite.wasm` with a custom section of a
 * random name, which Postgres never reads), so the module the bench holds,
 * as vitest's global setup does, cannot stand in for it: a start as it was
 * before the testkit held one.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { pgliteWasmPath, preparedPgliteDataDir } from '@data-machine/testkit';

/** @type {{ before?: string, unshared?: boolean }} */
const { before, unshared } = workerData;
const loadDataDir = before === undefined ? await preparedPgliteDataDir() : new Blob([new Uint8Array(await readFile(before))]);
const pgliteWasmModule = unshared === true ? await WebAssembly.compile(await unsharedPgliteWasm()) : undefined;
const pglite = await PGlite.create({ loadDataDir, ...(pgliteWasmModule ? { pgliteWasmModule } : {}) });
await pglite.query('select 1');
await pglite.close();

/** `pglite.wasm` with an empty custom section appended: section id 0, its size, then its name's length and the name. */
async function unsharedPgliteWasm() {
  const wasm = await readFile(pgliteWasmPath());
  const name = new TextEncoder().encode(`unshared-${randomBytes(8).toString('hex')}`);
  return Buffer.concat([wasm, Uint8Array.of(0, name.length + 1, name.length), name]);
}
