import { sql, type Kysely } from 'kysely';

/**
 * Resolves once some session of `db`'s database waits on a lock: the real
 * signal that a request is blocked. Throws if `finished` says the request
 * ended first: it decided without waiting for the change.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function someoneWaitsOnALock(db: Kysely<any>, finished: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const early = finished();
    if (early !== undefined) throw new Error(`the request ended (${early}) without waiting for the change`);
    const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
    if ((rows[0]?.waiting ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error('no session waited on a lock');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs `request` while another transaction of `db` makes a change: the change
 * is made first, the request starts and must wait for it, then the change
 * commits. Resolves to what `outcome` makes of the request's promise (an error
 * code, say). Postgres only: PGlite has one connection, so transactions
 * cannot interleave there.
 */
export async function duringOpenChange<Database>(
  db: Kysely<Database>,
  change: (trx: Kysely<Database>) => Promise<unknown>,
  request: () => Promise<unknown>,
  outcome: (request: Promise<unknown>) => Promise<string>,
): Promise<string> {
  const changing = await db.startTransaction().execute();
  let result: Promise<string> | undefined;
  let ended: string | undefined;
  try {
    await change(changing);
    result = outcome(request()).then((code) => (ended = code));
    await someoneWaitsOnALock(db, () => ended);
    await changing.commit().execute();
  } catch (error) {
    await changing.rollback().execute();
    throw error;
  }
  return result;
}
