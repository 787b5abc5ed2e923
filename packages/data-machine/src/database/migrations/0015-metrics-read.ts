import { sql, type Kysely, type Migration } from 'kysely';
import { appRole } from './0001-identity';

/**
 * What `/metrics` reads of the substrate: token usage of agent runs by
 * tenant and agent (`readAutomationMetrics`). The plain role gets `select` on
 * `agents_runs` (nothing more), and runs that ended are indexed by tenant
 * key and end time so a scrape reads its window, not the table. The index
 * is the product's: it is the product that asks this question of the
 * substrate's table. See docs/decisions/2026-12-01-automation-metrics.md.
 */
export const metricsRead: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async up(db: Kysely<any>) {
    await sql`grant select on agents_runs to ${sql.id(appRole)}`.execute(db);
    await sql`create index dm_agents_runs_ended_idx on agents_runs (tenant_key, ended_at) where ended_at is not null`.execute(db);
  },
};
