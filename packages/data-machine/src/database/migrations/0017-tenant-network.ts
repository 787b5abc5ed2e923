import { type Kysely, type Migration } from 'kysely';

/**
 * `dm_tenants.allow_private_addresses`: whether the tenant's handlers may
 * reach private, loopback and link-local addresses (an intranet WordPress,
 * a service on the server's own network). The operator's decision, never
 * the tenant's: only the system principal changes it. Default false, so
 * every existing tenant stays behind the SSRF guard. See
 * docs/decisions/2026-12-01-tenant-private-addresses.md.
 */
export const tenantNetwork: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema.alterTable('dm_tenants').addColumn('allow_private_addresses', 'boolean', (column) => column.notNull().defaultTo(false)).execute();
  },
};
