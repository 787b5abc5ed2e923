// @ts-check
/**
 * Worker thread of `pglite-load.bench.ts`: starts one PGlite, as the first
 * database of a fresh vitest worker does, and exits. Plain JavaScript on the
 * built testkit (`dist`): a worker thread does not inherit tsx's loader on
 * Node 20. `workerData.before` names the old dump, handed over as a plain
 * Blob; without it the prepared directory is loaded the testkit's way
 * (`TESTKIT_CACHE_DIR` is inherited from the bench).
 */
import { readFile } from 'node:fs/promises';
import { workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { preparedPgliteDataDir } from '@data-machine/testkit';

/** @type {{ before?: string }} */
const { before } = workerData;
const loadDataDir = before === undefined ? await preparedPgliteDataDir() : new Blob([new Uint8Array(await readFile(before))]);
const pglite = await PGlite.create({ loadDataDir });
await pglite.query('select 1');
await pglite.close();
