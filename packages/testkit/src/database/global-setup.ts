import type { TestProject } from 'vitest/node';
import { preparePgliteDataDir } from './pglite-data-dir';

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
 * make it themselves when run without this setup.
 */
export async function setup(project: TestProject): Promise<void> {
  project.provide('pgliteDataDir', await preparePgliteDataDir());
}
