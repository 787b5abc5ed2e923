import { availableBackends, createTestDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { engineQueues, installJobEngine } from './job-engine';

describe('installing the job engine', () => {
  it('succeeds from processes starting together on an empty Postgres database (one installs, the others find it)', async (test) => {
    if (!(await availableBackends()).includes('postgres')) test.skip('Postgres is not reachable (allowed outside CI only)');
    const database = await createTestDatabase('postgres');
    try {
      // Three installs at once, each on its own pooled connection: without the lock two fail on `type "job_state" already exists`.
      const results = await Promise.allSettled([1, 2, 3].map(() => installJobEngine(database.db, { appRole: null })));
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const queues = await sql<{ name: string }>`select name from pgboss.queue order by name`.execute(database.db);
      expect(queues.rows.map((row) => row.name)).toEqual(Object.values(engineQueues).sort());
    } finally {
      await database.destroy();
    }
  });
});
