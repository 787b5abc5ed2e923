import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgliteDialect } from '@data-machine/pglite-dialect';
import { Kysely, sql } from 'kysely';
import { dumpForLoading, preparedPgliteDataDir } from './pglite-data-dir';
import { availableBackends, testDatabaseUrl, withAdmin, withDatabaseName, connect, type DatabaseTemplate } from './test-database';

/** Brings an empty database to the schema the template should hold. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TemplateMigration = (db: Kysely<any>) => Promise<unknown>;

/**
 * Makes a template by running `migrate` on a fresh PGlite and, when Postgres
 * answers, on a fresh Postgres database. Call it from a vitest global setup
 * and `provide` the result as `databaseTemplate`; {@link dropDatabaseTemplate} in teardown.
 */
export async function prepareDatabaseTemplate(name: string, migrate: TemplateMigration): Promise<DatabaseTemplate> {
  const unique = `${Date.now().toString(36)}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const pgliteDataDir = path.join(tmpdir(), `data-machine-template-${name}-${unique}.tar`);
  const pglite = await PGlite.create({ loadDataDir: await preparedPgliteDataDir() });
  const db = new Kysely<unknown>({ dialect: new PgliteDialect({ pglite }) });
  try {
    await migrate(db);
    await writeFile(pgliteDataDir, await dumpForLoading(pglite));
  } finally {
    await db.destroy();
  }
  let postgresDatabase: string | null = null;
  if ((await availableBackends()).includes('postgres')) {
    postgresDatabase = `dm_template_${name.replace(/[^a-z0-9]/gi, '_')}_${unique}`;
    await withAdmin((admin) => sql`create database ${sql.id(postgresDatabase as string)}`.execute(admin));
    const template = connect(withDatabaseName(testDatabaseUrl, postgresDatabase));
    try {
      await migrate(template);
    } finally {
      await template.destroy();
    }
  }
  return { name, pgliteDataDir, postgresDatabase };
}

/** Removes what {@link prepareDatabaseTemplate} made. */
export async function dropDatabaseTemplate(template: DatabaseTemplate): Promise<void> {
  await rm(template.pgliteDataDir, { force: true });
  const database = template.postgresDatabase;
  if (database !== null) await withAdmin((admin) => sql`drop database if exists ${sql.id(database)} with (force)`.execute(admin));
}
