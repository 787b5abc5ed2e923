import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedPgliteDataDir } from './pglite-data-dir';
import { compilePgliteWasmModule, pgliteWasmPath } from './pglite-wasm-module';

describe("PGlite's compiled wasm module", () => {
  let pglite: PGlite;
  // The start in a hook: its time limit covers one database's cost (the contributing guide).
  beforeAll(async () => {
    pglite = await PGlite.create({ loadDataDir: await preparedPgliteDataDir(), pgliteWasmModule: await compilePgliteWasmModule() });
  });
  afterAll(async () => {
    await pglite.close();
  });

  it('is read from the wasm file of the installed PGlite', async () => {
    const bytes = await readFile(pgliteWasmPath());
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
  });

  it('starts a PGlite on the prepared data directory that answers queries', async () => {
    expect((await pglite.query<{ answer: number }>('select 1 as answer')).rows).toEqual([{ answer: 1 }]);
  });
});
