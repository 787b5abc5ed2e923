import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `dm_bearer_access`: a request's bearer authentication in one statement, so
 * it needs no transaction of its own (`resolveBearerAccess` calls it; see
 * docs/decisions/2026-12-01-request-path-speed.md). A plain PL/pgSQL
 * function, `security invoker`: it switches to the plain role and sets the
 * row-level security keys as the scoped transactions do, each in a statement
 * of its own, so the reads after them are confined exactly as in a
 * transaction; the settings are local to the one statement's transaction and
 * gone when it ends.
 *
 * Rows (`kind`, `agent_id`, `role`, `data`): first `token`, the token with
 * this hash (none when there is none) with what the tenant is chosen from
 * (a personal token's user's tenants, or the tenant an agent token's request
 * named) and `expected_tenant`; then, when that tenant is not empty, the
 * facts' rows (`membership`, `grant`, `owned`, as `factsRows` in
 * `scope/scope.ts` reads them without locks) and, when asked, the `agent`
 * row with its template's configuration. `p_tenant_id` confines the reads to
 * a tenant the host chose instead of the expected one.
 */
export const bearerAccess: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`
      create function dm_bearer_access(p_role text, p_token_hash text, p_user_token boolean, p_tenant_ref text, p_tenant_id text, p_agent_ref text)
      returns table (kind text, agent_id text, role text, data jsonb)
      language plpgsql volatile security invoker as $body$
      #variable_conflict use_column
      declare
        v_token jsonb;
        v_user_id text;
        v_tenant_id text;
      begin
        if p_role is not null then
          perform set_config('role', p_role, true);
        end if;
        perform set_config('dm.token_hash', p_token_hash, true);
        if p_user_token then
          select to_jsonb(t) into v_token from (
            select id, user_id, secret_hash, revoked_at, expires_at, last_used_at from dm_user_tokens where secret_hash = p_token_hash
          ) t;
          if v_token is null then
            return;
          end if;
          v_user_id := v_token ->> 'user_id';
          perform set_config('dm.user_id', v_user_id, true);
          v_tenant_id := coalesce(p_tenant_id, (
            select tn.id from dm_memberships m join dm_tenants tn on tn.id = m.tenant_id
            where m.user_id = v_user_id and (p_tenant_ref is null or tn.id = p_tenant_ref or tn.slug = p_tenant_ref)
            order by tn.slug limit 1), '');
          v_token := v_token || jsonb_build_object(
            'memberships', coalesce((select jsonb_agg(jsonb_build_object('tenantId', tn.id, 'slug', tn.slug, 'role', m.role) order by tn.slug)
              from dm_memberships m join dm_tenants tn on tn.id = m.tenant_id where m.user_id = v_user_id), '[]'::jsonb));
        else
          select to_jsonb(t) into v_token from dm_agent_tokens t where t.secret_hash = p_token_hash;
          if v_token is null then
            return;
          end if;
          v_user_id := v_token ->> 'user_id';
          v_tenant_id := coalesce(p_tenant_id, v_token ->> 'tenant_id');
          v_token := v_token || jsonb_build_object('named_tenant', (select tn.id from dm_tenants tn where tn.id = p_tenant_ref or tn.slug = p_tenant_ref limit 1));
          if p_tenant_id is not null then
            perform set_config('dm.user_id', v_user_id, true);
          end if;
        end if;
        perform set_config('dm.tenant_id', v_tenant_id, true);
        return query select 'token'::text, null::text, null::text, v_token || jsonb_build_object('expected_tenant', v_tenant_id);
        if v_tenant_id = '' then
          return;
        end if;
        return query
          with membership as (select m.role from dm_memberships m where m.tenant_id = v_tenant_id and m.user_id = v_user_id),
            grants as (select g.agent_id, g.role from dm_agent_grants g where g.tenant_id = v_tenant_id and g.user_id = v_user_id)
          select 'membership'::text, null::text, membership.role, null::jsonb from membership
          union all select 'grant', grants.agent_id, grants.role, null from grants
          union all select 'owned', a.id, null, null from dm_agents a where a.tenant_id = v_tenant_id and a.owner_user_id = v_user_id;
        if p_agent_ref is not null then
          return query
            select 'agent'::text, a.id, null::text, to_jsonb(a) || jsonb_build_object('template_config', (select tpl.config from dm_agents tpl where tpl.id = a.template_agent_id))
            from dm_agents a where a.tenant_id = v_tenant_id and (a.id = p_agent_ref or a.slug = p_agent_ref);
        end if;
      end
      $body$`.execute(db);
  },
};
