import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `agents_open_session` again (migration 0005), the keyed reopen's session
 * found by the primary key alone, as migration 0006 did for the append: with
 * `id = ... and user_key = ... and tenant_key = ...` the planner could pick
 * `agents_sessions_owner_idx` (tenant, user) and filter by id, reading every
 * session of the owner, on a table not yet analyzed. Nothing else changes:
 * same arguments, same result, same single statement. See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-02, stop 26:
 * primary-key lookups".
 */
export const openByPrimaryKey: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create or replace function agents_open_session(
        p_session_id text, p_agent_slug text, p_user_key text, p_tenant_key text, p_title text, p_metadata jsonb,
        p_messages jsonb, p_at timestamptz, p_lock_token text, p_lock_expires_at timestamptz,
        p_idempotency_key text, p_run_id text, p_seq_at_start integer, p_async_commit boolean
      )
      returns table (session_created boolean, run_created boolean, reopened jsonb)
      language plpgsql
      as $$
      #variable_conflict use_column
      declare
        opened agents_sessions%rowtype;
        found_run agents_runs%rowtype;
        created boolean := false;
        begun boolean := false;
      begin
        if p_async_commit then
          perform set_config('synchronous_commit', 'off', true);
        end if;
        -- A taken id (by anyone) inserts nothing.
        insert into agents_sessions as session (id, agent_slug, user_key, tenant_key, title, metadata, last_seq, created_at, updated_at, lock_token, lock_expires_at)
        values (p_session_id, p_agent_slug, p_user_key, p_tenant_key, p_title, p_metadata, jsonb_array_length(p_messages), p_at, p_at,
                p_lock_token, p_lock_expires_at)
        on conflict (id) do nothing
        returning session.* into opened;
        if found then
          created := true;
          insert into agents_session_messages (session_id, seq, message_id, user_key, tenant_key, type, role, body, created_at)
          select opened.id, entry.ord, entry.body->>'id', opened.user_key, opened.tenant_key, entry.body->>'type', entry.body->>'role', entry.body, p_at
            from jsonb_array_elements(p_messages) with ordinality as entry(body, ord);
        elsif p_idempotency_key is null then
          return;
        else
          -- Only a keyed open may lease a session that exists: the owner's, with no live lease.
          -- Found by its primary key only: the owner is compared with IS NOT DISTINCT FROM (the same
          -- as equality on these not-null columns), which no index serves, so the planner cannot read
          -- the owner's index instead, whatever the table's statistics say (as the append, 0006).
          update agents_sessions as session
             set lock_token = p_lock_token, lock_expires_at = p_lock_expires_at
           where session.id = p_session_id
             and session.user_key is not distinct from p_user_key and session.tenant_key is not distinct from p_tenant_key
             and (session.lock_token is null or session.lock_expires_at is null or session.lock_expires_at <= p_at)
          returning session.* into opened;
          if not found then
            return;
          end if;
          update agents_runs as existing
             set attempts = case when existing.status = 'running' then existing.attempts + 1 else existing.attempts end, updated_at = p_at
           where existing.session_id = p_session_id and existing.idempotency_key = p_idempotency_key
          returning existing.* into found_run;
        end if;
        if found_run.id is null then
          insert into agents_runs as begun_run (id, session_id, agent_slug, user_key, tenant_key, idempotency_key, status, turn_usage, usage, seq_at_start, started_at, updated_at)
          values (p_run_id, opened.id, opened.agent_slug, opened.user_key, opened.tenant_key, p_idempotency_key, 'running', '[]'::jsonb, '{}'::jsonb,
                  p_seq_at_start, p_at, p_at)
          returning begun_run.* into found_run;
          begun := true;
        end if;
        -- A session created here holds exactly what the caller sent (and its run the columns'
        -- defaults): nothing to send back. Only a keyed open of an existing session returns rows.
        if created then
          return query select true, begun, null::jsonb;
        else
          return query select false, begun, jsonb_build_object('session', to_jsonb(opened), 'run', to_jsonb(found_run));
        end if;
      end
      $$
    `.execute(db);
  },
};
