import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/** The substrate tables an agent's deletion clears, inside the product's transaction. */
export const substrateTablesClearedWithAgent = ['agents_sessions', 'agents_memory_files'] as const;

/**
 * Where an agent row came from: `product` (created through the product, the
 * default for every existing row) or `registry` (materialised from an
 * `@data-machine/agents-api` registry definition at boot). Reconciliation
 * updates only `registry` rows and refuses a slug a `product` row holds.
 *
 * Deleting an agent also deletes its substrate data (sessions and memory
 * files) in the same transaction, which runs as the plain role: it gets
 * `select` and `delete` on those tables and nothing more (their messages and
 * runs go by the substrate's own cascades). See
 * docs/decisions/2026-12-01-registered-agents-and-runtime-principal.md.
 */
export const agentOrigin: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await db.schema
      .alterTable('dm_agents')
      .addColumn('origin', 'text', (column) => column.notNull().defaultTo('product').check(sql`origin in ('product', 'registry')`))
      .execute();
    for (const table of substrateTablesClearedWithAgent) {
      await sql`grant select, delete on ${sql.table(table)} to ${sql.id(appRole)}`.execute(db);
    }
  },
};
