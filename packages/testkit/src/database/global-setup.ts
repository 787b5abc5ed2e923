import type { TestProject } from 'vitest/node';
import { preparePgliteDataDir } from './pglite-data-dir';
import { compilePgliteWasmModule } from './pglite-wasm-module';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the prepared PGlite data directory (a tarball for `PGlite.create({ loadDataDir })`). */
    pgliteDataDir: string;
  }
}

/**
 * Vitest global setup: makes the prepared PGlite data directory once, before
 * any worker starts, so no test file pays for initdb inside a hook timeout,
 * and provides its path as `inject('pgliteDataDir')` to packages that cannot
 * import the testkit (the PGlite dialect it depends on). Test files still
 * make it themselves when run without this setup. It also holds PGlite's
 * compiled wasm module until the run ends, so every worker's PGlite shares
 * one compilation (see `compilePgliteWasmModule`); the worker threads need
 * nothing passed to them for it.
 */
export async function setup(project: TestProject): Promise<() => void> {
  const [dataDir, pgliteWasm] = await Promise.all([preparePgliteDataDir(), compilePgliteWasmModule()]);
  project.provide('pgliteDataDir', dataDir);
  // The teardown keeps the module reachable until vitest calls it, after the last test file.
  return () => void pgliteWasm;
}
