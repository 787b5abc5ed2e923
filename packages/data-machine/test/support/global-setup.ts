import { migrateAgentsApi } from '@data-machine/agents-api/postgres';
import { dropDatabaseTemplate, prepareDatabaseTemplate, type DatabaseTemplate } from '@data-machine/testkit';
import type { TestProject } from 'vitest/node';
import { migrateDataMachine } from '../../src/database/data-machine-migrations';
import { installJobEngine } from '../../src/engine/job-engine';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseTemplate: DatabaseTemplate | undefined;
  }
}

let template: DatabaseTemplate | undefined;

/**
 * Migrates one database per backend for the whole run; every
 * `describeEachDatabase` suite of this package starts as a copy of it
 * instead of running the migrations again (see docs/decisions/2026-11-30-fast-test-databases.md).
 */
export async function setup(project: TestProject): Promise<void> {
  template = await prepareDatabaseTemplate('data_machine', async (db) => {
    await migrateAgentsApi(db);
    await migrateDataMachine(db);
    await installJobEngine(db);
  });
  project.provide('databaseTemplate', template);
}

export async function teardown(): Promise<void> {
  if (template) await dropDatabaseTemplate(template);
}
