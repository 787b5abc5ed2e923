import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `dm_require(ok, message)`: raises `message` unless `ok` is true. The guard
 * of a batch sent in one round trip (`guardStatement`,
 * scope/scoped-statements.ts): a batch cannot decide between statements, so a
 * later one is made to depend on an earlier one by failing the whole implicit
 * transaction. A function, unlike the `DO` block it replaces, takes
 * parameters, so the guard is prepared once per session like the batch's
 * other statements instead of compiled on every enqueue
 * (docs/decisions/2026-12-01-engine-speed.md, "fifth pass"). Every role may
 * call it (`public`, as a new function is); it reads nothing.
 */
export const engineGuard: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create function dm_require(ok boolean, message text) returns boolean
      language plpgsql volatile as $body$
      begin
        if ok is not true then
          raise exception using message = message;
        end if;
        return true;
      end
      $body$`.execute(db);
  },
};
