import { describeEachDatabase } from '@data-machine/testkit';
import { sql, type Kysely, type Migration } from 'kysely';
import { expect, it } from 'vitest';
import { AgentsApiError } from '../errors';
import { getMigrationState, runMigrations, type MigrationSet } from './migrations';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

const createTable = (table: string): Migration => ({
  up: (db: AnyKysely) => db.schema.createTable(table).addColumn('id', 'integer', (column) => column.primaryKey()).execute(),
});

async function tableExists(db: AnyKysely, table: string): Promise<boolean> {
  const result = await sql<{ found: boolean }>`select to_regclass(${table}) is not null as found`.execute(db);
  return result.rows[0]?.found === true;
}

await describeEachDatabase('migrations', (context) => {
  const first: MigrationSet = {
    name: 'first_pkg',
    migrations: { '0001_alpha': createTable('first_alpha'), '0002_beta': createTable('first_beta') },
  };

  it('applies pending migrations in order and reports them', async () => {
    expect(await getMigrationState(context.db, first)).toEqual({ set: 'first_pkg', applied: [], pending: ['0001_alpha', '0002_beta'] });
    const run = await runMigrations(context.db, first);
    expect(run.applied).toEqual(['0001_alpha', '0002_beta']);
    expect(await tableExists(context.db, 'first_beta')).toBe(true);
    expect(await getMigrationState(context.db, first)).toEqual({ set: 'first_pkg', applied: ['0001_alpha', '0002_beta'], pending: [] });
  });

  it('is idempotent: a second run applies nothing', async () => {
    expect((await runMigrations(context.db, first)).applied).toEqual([]);
  });

  it('keeps each package history in its own prefixed table', async () => {
    const second: MigrationSet = { name: 'second_pkg', migrations: { '0001_alpha': createTable('second_alpha') } };
    expect((await runMigrations(context.db, second)).applied).toEqual(['0001_alpha']);
    expect(await tableExists(context.db, 'second_pkg_migration')).toBe(true);
    expect((await getMigrationState(context.db, first)).applied).toEqual(['0001_alpha', '0002_beta']);
  });

  it('applies a migration once when runs race', async () => {
    const racing: MigrationSet = { name: 'racing_pkg', migrations: { '0001_once': createTable('racing_once') } };
    const runs = await Promise.all([1, 2, 3].map(() => runMigrations(context.db, racing)));
    expect(runs.flatMap((run) => run.applied)).toEqual(['0001_once']);
  });

  it('rolls back the whole run when a migration fails, and names it in a typed error', async () => {
    const broken: MigrationSet = {
      name: 'broken_pkg',
      migrations: {
        '0001_fine': createTable('broken_fine'),
        '0002_bad': {
          up: async (db: AnyKysely) => {
            await sql`create table broken_bad (id nonsense_type)`.execute(db);
          },
        },
      },
    };
    const error = await runMigrations(context.db, broken).catch((caught: unknown) => caught);
    expect(AgentsApiError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'database.migration_failed', details: { set: 'broken_pkg', migration: '0002_bad' } });
    expect((error as Error).message).toContain("'0002_bad'");
    expect(await tableExists(context.db, 'broken_fine')).toBe(false);
    expect((await getMigrationState(context.db, broken)).applied).toEqual([]);
  });
});
