import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedPgliteDataDirPath, preparePgliteDataDir, unpackPgliteDataDir } from './pglite-data-dir';
import { createTestDatabase, type TestDatabase } from './test-database';

describe('PGlite test databases from the prepared data directory', () => {
  const databases: TestDatabase[] = [];
  let before: { ino: number; mtimeMs: number };
  let first: TestDatabase;
  let second: TestDatabase;

  // One database per hook: each hook's time limit covers one database's cost.
  beforeAll(async () => {
    before = await stat(await preparePgliteDataDir());
    first = await createTestDatabase('pglite');
    databases.push(first);
  });
  beforeAll(async () => {
    second = await createTestDatabase('pglite');
    databases.push(second);
  });
  afterAll(async () => {
    for (const database of databases) await database.destroy();
  });

  it('keeps the prepared data directory under a name keyed by the PGlite version', async () => {
    expect(await preparePgliteDataDir()).toBe(preparedPgliteDataDirPath());
    expect(preparedPgliteDataDirPath()).toMatch(/pglite-\d+\.\d+\.\d+[^/\\]*-empty\.tar$/);
  });

  it('reuses the prepared data directory for every database instead of making it again', async () => {
    const after = await stat(preparedPgliteDataDirPath());
    expect({ ino: after.ino, mtimeMs: after.mtimeMs }).toEqual({ ino: before.ino, mtimeMs: before.mtimeMs });
  });

  it('gives each database its own cluster: what one writes, another never sees', async () => {
    await first.db.schema.createTable('only_in_first').addColumn('id', 'integer').execute();
    await sql`insert into only_in_first values (1)`.execute(first.db);
    const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(second.db);
    expect(tables.rows).toEqual([]);
    const created = await sql<{ count: number }>`select count(*)::int4 as count from only_in_first`.execute(first.db);
    expect(created.rows).toEqual([{ count: 1 }]);
  });

  it('starts with a small buffer pool, 1 MB WAL segments and no template0', async () => {
    const settings = await sql<{ buffers: string; segment: string }>`
      select current_setting('shared_buffers') as buffers, current_setting('wal_segment_size') as segment`.execute(first.db);
    expect(settings.rows).toEqual([{ buffers: '16MB', segment: '1MB' }]);
    const databases = await sql<{ name: string }>`select datname as name from pg_database order by datname`.execute(first.db);
    expect(databases.rows.map((row) => row.name)).toEqual(['postgres', 'template1']);
  });

  it('ships no WAL segment beyond the one its checkpoint is in', async () => {
    const { stdout } = await promisify(execFile)('tar', ['-tf', preparedPgliteDataDirPath()]);
    const segments = stdout.split('\n').filter((member) => /pg_wal\/[0-9A-F]{24}$/.test(member));
    expect(segments).toHaveLength(1);
  });

  it('starts as the same user and database as a fresh PGlite, with built-in functions working', async () => {
    const result = await sql<{ user: string; database: string; uuid: string }>`
      select current_user as user, current_database() as database, gen_random_uuid()::text as uuid`.execute(first.db);
    expect(result.rows[0]).toMatchObject({ user: 'postgres', database: 'postgres' });
    expect(result.rows[0]?.uuid).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('a PGlite data folder unpacked from a dump', () => {
  let folder: string;
  let pglite: PGlite;

  beforeAll(async () => {
    folder = path.join(await mkdtemp(path.join(tmpdir(), 'testkit-unpacked-')), 'pglite');
    await unpackPgliteDataDir(await preparePgliteDataDir(), folder);
  });
  beforeAll(async () => {
    pglite = await PGlite.create(folder);
  });
  afterAll(async () => {
    await pglite?.close();
    await rm(path.dirname(folder), { recursive: true, force: true });
  });

  it('holds an initialised cluster under the folder itself, not under an absolute path inside it', async () => {
    expect((await readFile(path.join(folder, 'PG_VERSION'), 'utf8')).trim()).toMatch(/^\d+$/);
  });

  it('opens as a working database that keeps what it is given', async () => {
    await pglite.exec('create table kept (id integer); insert into kept values (7);');
    const result = await pglite.query<{ database: string; id: number }>('select current_database() as database, id from kept');
    expect(result.rows).toEqual([{ database: 'postgres', id: 7 }]);
  });
});
