import { getMigrationState, migrateAgentsApi } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { expect, it } from 'vitest';
import { dataMachineMigrations, migrateDataMachine } from './data-machine-migrations';

await describeEachDatabase('data-machine migrations', (context) => {
  // Every migration of both packages runs inside the test, twice: seconds on a busy machine, not the default 5.
  it('run beside the substrate migrations with a history of their own', { timeout: 60_000 }, async () => {
    await migrateAgentsApi(context.db);
    await migrateDataMachine(context.db);
    await migrateDataMachine(context.db);
    const state = await getMigrationState(context.db, dataMachineMigrations);
    expect(state).toEqual({ set: 'data_machine', applied: Object.keys(dataMachineMigrations.migrations), pending: [] });
    const tables = await context.db.introspection.getTables({ withInternalKyselyTables: true });
    expect(tables.map((table) => table.name)).toEqual(
      expect.arrayContaining(['agents_api_migration', 'agents_api_migration_lock', 'data_machine_migration', 'data_machine_migration_lock']),
    );
  });
}, { template: false });
