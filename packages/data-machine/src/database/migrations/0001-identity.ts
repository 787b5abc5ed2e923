import { sql, type Kysely, type Migration } from 'kysely';

/** The plain role application queries run as, so row-level security applies even when the connection is a superuser's. */
export const appRole = 'dm_app';

/** Tables whose rows belong to one tenant, guarded by row-level security (the schema test keeps the list honest). */
export const tenantScopedTables = ['dm_memberships', 'dm_agents', 'dm_agent_owner_counts', 'dm_agent_grants', 'dm_agent_tokens'] as const;

/**
 * Identity and access: tenants, users, memberships, agents, grants, tokens.
 * Every tenant-scoped table gets row-level security, enabled and forced,
 * keyed by the transaction's `dm.tenant_id` setting (see `scope/scoped-transaction.ts`).
 */
export const identity: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .createTable('dm_tenants')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('slug', 'text', (column) => column.notNull().unique())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('is_catalog', 'boolean', (column) => column.notNull().defaultTo(false))
      .addColumn('agent_limit_per_user', 'integer', (column) => column.notNull().defaultTo(1).check(sql`agent_limit_per_user >= 0`))
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('dm_users')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('email', 'text', (column) => column.notNull().unique())
      .addColumn('display_name', 'text', (column) => column.notNull())
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema
      .createTable('dm_memberships')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('owner', 'admin', 'editor', 'author', 'subscriber')`))
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_memberships_pkey', ['tenant_id', 'user_id'])
      .execute();
    await db.schema.createIndex('dm_memberships_user_idx').on('dm_memberships').column('user_id').execute();
    await db.schema
      .createTable('dm_agents')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('slug', 'text', (column) => column.notNull())
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('description', 'text', (column) => column.notNull().defaultTo(''))
      .addColumn('owner_user_id', 'text', (column) => column.references('dm_users.id').onDelete('set null'))
      .addColumn('template_agent_id', 'text', (column) => column.references('dm_agents.id').onDelete('restrict'))
      .addColumn('is_default', 'boolean', (column) => column.notNull().defaultTo(false))
      .addColumn('config', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
      .addUniqueConstraint('dm_agents_tenant_slug_key', ['tenant_id', 'slug'])
      .addUniqueConstraint('dm_agents_tenant_template_key', ['tenant_id', 'template_agent_id'])
      .execute();
    // One default agent per tenant.
    await sql`create unique index dm_agents_default_idx on dm_agents (tenant_id) where is_default`.execute(db);
    await db.schema
      .createTable('dm_agent_owner_counts')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('owned', 'integer', (column) => column.notNull().check(sql`owned >= 0`))
      .addPrimaryKeyConstraint('dm_agent_owner_counts_pkey', ['tenant_id', 'user_id'])
      .execute();
    await db.schema
      .createTable('dm_agent_grants')
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull().references('dm_agents.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('admin', 'operator', 'viewer')`))
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .addPrimaryKeyConstraint('dm_agent_grants_pkey', ['agent_id', 'user_id'])
      .execute();
    await db.schema.createIndex('dm_agent_grants_user_idx').on('dm_agent_grants').columns(['tenant_id', 'user_id']).execute();
    await db.schema
      .createTable('dm_agent_tokens')
      .addColumn('id', 'text', (column) => column.primaryKey())
      .addColumn('tenant_id', 'text', (column) => column.notNull().references('dm_tenants.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (column) => column.notNull().references('dm_agents.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (column) => column.notNull().references('dm_users.id').onDelete('cascade'))
      .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
      .addColumn('prefix', 'text', (column) => column.notNull())
      .addColumn('label', 'text', (column) => column.notNull())
      .addColumn('ceiling', 'jsonb', (column) => column.notNull())
      .addColumn('expires_at', 'timestamptz')
      .addColumn('last_used_at', 'timestamptz')
      .addColumn('revoked_at', 'timestamptz')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'timestamptz', (column) => column.notNull())
      .execute();
    await db.schema.createIndex('dm_agent_tokens_agent_idx').on('dm_agent_tokens').column('agent_id').execute();

    await createAppRole(db);
    for (const table of ['dm_tenants', 'dm_users', ...tenantScopedTables]) {
      await sql`grant select, insert, update, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
    }
    for (const table of tenantScopedTables) await enableTenantSecurity(db, table);
    // Narrow ways past the tenant key: authentication finds a token by the hash
    // of the secret it was shown, a user lists their own memberships to choose a
    // tenant, and anyone reads a catalog's template agents.
    await sql`create policy dm_agent_tokens_by_secret on dm_agent_tokens for select using (secret_hash = current_setting('dm.token_hash', true))`.execute(db);
    await sql`create policy dm_memberships_own on dm_memberships for select using (user_id = current_setting('dm.user_id', true))`.execute(db);
    // Catalog templates are public: any tenant may read (never write) a catalog's agents.
    await sql`create policy dm_agents_catalog on dm_agents for select using (tenant_id in (select id from dm_tenants where is_catalog))`.execute(db);
  },
};

/**
 * The role is cluster-wide, so concurrent migrations of two databases on one
 * server may both try to create it: either error means it exists.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function createAppRole(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `do $$ begin create role ${appRole} nologin; exception when duplicate_object or unique_violation then null; end $$`,
    )
    .execute(db);
  // A connecting user that is not a superuser must be a member to switch to it.
  await sql
    .raw(
      `do $$ begin if not (select rolsuper from pg_roles where rolname = current_user) then execute format('grant ${appRole} to %I', current_user); end if; end $$`,
    )
    .execute(db);
}

/** Row-level security keyed by the transaction's tenant; forced, so the tables' owner is held to it too. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function enableTenantSecurity(db: Kysely<any>, table: string): Promise<void> {
  await sql`alter table ${sql.table(table)} enable row level security`.execute(db);
  await sql`alter table ${sql.table(table)} force row level security`.execute(db);
  await sql`create policy ${sql.id(`${table}_tenant`)} on ${sql.table(table)} using (tenant_id = current_setting('dm.tenant_id', true)) with check (tenant_id = current_setting('dm.tenant_id', true))`.execute(db);
}
