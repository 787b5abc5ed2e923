import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableBackends, type DatabaseTemplate } from './test-database';
import { dropDatabaseTemplate, prepareDatabaseTemplate } from './database-template';
import { createTestDatabase, withAdmin } from './test-database';

const backends = await availableBackends();

// Every spec here starts databases in its body (a template, copies), which other specs do in hooks:
// they get the hooks' limit (10 s), not a test's 5 s, which two PGlite starts (1.3 to 2 s of CPU
// each when quiet) overran under load.
describe('database templates', { timeout: 10_000 }, () => {
  let template: DatabaseTemplate;
  beforeAll(async () => {
    template = await prepareDatabaseTemplate('testkit_spec', async (db) => {
      await sql`create table fruit (name text primary key)`.execute(db);
      await sql`insert into fruit values ('apple')`.execute(db);
    });
  });
  afterAll(async () => {
    await dropDatabaseTemplate(template);
  });

  // One test per backend: each makes two copies, and each copy is a database of its own to start.
  it.each(backends)('gives %s copies that start migrated and are independent of each other', async (backend) => {
    const [first, second] = await Promise.all([createTestDatabase(backend, { template }), createTestDatabase(backend, { template })]);
    try {
      await sql`insert into fruit values ('pear')`.execute(first.db);
      const names = async (db: typeof first.db) => (await sql<{ name: string }>`select name from fruit order by name`.execute(db)).rows.map((row) => row.name);
      expect({ first: await names(first.db), second: await names(second.db) }).toEqual({ first: ['apple', 'pear'], second: ['apple'] });
    } finally {
      await first.destroy();
      await second.destroy();
    }
  });

  it('leaves an empty database empty when no template is named', async () => {
    const empty = await createTestDatabase('pglite');
    try {
      const { rows } = await sql<{ count: number }>`select count(*)::int as count from pg_tables where tablename = 'fruit'`.execute(empty.db);
      expect(rows[0]?.count).toBe(0);
    } finally {
      await empty.destroy();
    }
  });

  it('is removed by dropDatabaseTemplate', async () => {
    const doomed = await prepareDatabaseTemplate('testkit_doomed', async (db) => sql`create table t (x int)`.execute(db));
    await dropDatabaseTemplate(doomed);
    if (doomed.postgresDatabase !== null) {
      const { rows } = await withAdmin((admin) => sql<{ count: number }>`select count(*)::int as count from pg_database where datname = ${doomed.postgresDatabase}`.execute(admin));
      expect(rows[0]?.count).toBe(0);
    }
    await expect(import('node:fs/promises').then((fs) => fs.stat(doomed.pgliteDataDir))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
