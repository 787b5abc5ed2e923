import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `agents_append_messages` again (migration 0004), its session found by the
 * primary key alone. With `id = ... and user_key = ... and tenant_key = ...`
 * the planner could pick `agents_sessions_owner_idx` (tenant, user) and
 * filter by id, reading every session of the owner on each append: it did on
 * a table not yet analyzed (a new database, or one growing faster than
 * autovacuum's analyze), where the two indexes cost the same to it. Nothing
 * else changes: same arguments, same result, same single statement. See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02: named
 * statements, and the append's plan".
 */
export const appendByPrimaryKey: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create or replace function agents_append_messages(
        p_session_id text, p_user_key text, p_tenant_key text, p_lock_token text, p_at timestamptz,
        p_messages jsonb, p_set_title boolean, p_title text, p_metadata jsonb, p_run_id text, p_run_update jsonb
      )
      returns table (id text, agent_slug text, user_key text, tenant_key text, title text, metadata jsonb,
                     last_seq integer, created_at timestamptz, updated_at timestamptz)
      language plpgsql
      as $$
      #variable_conflict use_column
      declare
        counted integer := jsonb_array_length(p_messages);
        ends_run boolean := p_run_id is not null;
        bumped agents_sessions%rowtype;
      begin
        -- The fence is part of the counter update's condition: the lease is checked and the row
        -- locked in one step (with a token, only its unexpired lease; without, no live lease).
        -- Concurrent appenders queue on the row lock, so each gets a contiguous range of seqs.
        -- A run's last write touches the session only if the run exists, and gives the lease back.
        update agents_sessions as session
           set last_seq = session.last_seq + counted,
               updated_at = p_at,
               title = case when p_set_title then p_title else session.title end,
               metadata = coalesce(p_metadata, session.metadata),
               lock_token = case when ends_run then null else session.lock_token end,
               lock_expires_at = case when ends_run then null else session.lock_expires_at end
         -- Found by its primary key only: the owner is compared with IS NOT DISTINCT FROM (the same
         -- as equality on these not-null columns), which no index serves, so the planner cannot read the
         -- owner's index instead, whatever the table's statistics say.
         where session.id = p_session_id
           and session.user_key is not distinct from p_user_key and session.tenant_key is not distinct from p_tenant_key
           and case when p_lock_token is null
                    then session.lock_token is null or session.lock_expires_at is null or session.lock_expires_at <= p_at
                    else session.lock_token = p_lock_token and session.lock_expires_at > p_at end
           and (not ends_run or exists (select 1 from agents_runs as run where run.id = p_run_id and run.session_id = p_session_id))
        returning session.* into bumped;
        if not found then
          return;
        end if;
        -- The session's keys, not the caller's: every message carries its session's owner.
        insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
        select bumped.id, bumped.last_seq - counted + entry.ord, entry.body->>'id', bumped.user_key, bumped.tenant_key,
               entry.body->>'type', entry.body->>'role', entry.body, p_at
          from jsonb_array_elements(p_messages) with ordinality as entry(body, ord);
        if ends_run then
          update agents_runs as run
             set updated_at = p_at,
                 status = case when p_run_update ? 'status' then p_run_update->>'status' else run.status end,
                 failure_code = case when p_run_update ? 'failureCode' then p_run_update->>'failureCode' else run.failure_code end,
                 turn_usage = case when p_run_update ? 'turnUsage' then p_run_update->'turnUsage' else run.turn_usage end,
                 usage = case when p_run_update ? 'usage' then p_run_update->'usage' else run.usage end,
                 turns_used = case when p_run_update ? 'used' then (p_run_update->'used'->>'turns')::integer else run.turns_used end,
                 tokens_used = case when p_run_update ? 'used' then (p_run_update->'used'->>'tokens')::integer else run.tokens_used end,
                 wall_clock_ms = case when p_run_update ? 'used' then (p_run_update->'used'->>'wallClockMs')::bigint else run.wall_clock_ms end,
                 result = case when p_run_update ? 'result' then p_run_update->'result' else run.result end,
                 ended_at = case when coalesce((p_run_update->>'ended')::boolean, false) then p_at else run.ended_at end
           where run.id = p_run_id and run.session_id = p_session_id;
        end if;
        return query select bumped.id, bumped.agent_slug, bumped.user_key, bumped.tenant_key, bumped.title, bumped.metadata,
                            bumped.last_seq, bumped.created_at, bumped.updated_at;
      end
      $$
    `.execute(db);
  },
};
