import { dropDatabaseTemplate, prepareDatabaseTemplate, type DatabaseTemplate } from '@data-machine/testkit';
import type { TestProject } from 'vitest/node';
import { migrateAll } from '../../src/database/migrate';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseTemplate: DatabaseTemplate | undefined;
  }
}

let template: DatabaseTemplate | undefined;

/** Every package's migrations, once per run; database suites start from a copy (see docs/decisions/2026-11-30-fast-test-databases.md). */
export async function setup(project: TestProject): Promise<void> {
  template = await prepareDatabaseTemplate('server', migrateAll);
  project.provide('databaseTemplate', template);
}

export async function teardown(): Promise<void> {
  if (template) await dropDatabaseTemplate(template);
}
