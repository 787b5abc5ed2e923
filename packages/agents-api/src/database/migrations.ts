import { Migrator, type Kysely, type Migration } from 'kysely';
import { AgentsApiError } from '../errors';

/**
 * A package's migrations. `name` prefixes its bookkeeping tables
 * (`<name>_migration`, `<name>_migration_lock`), so packages sharing a
 * database never see each other's history.
 */
export interface MigrationSet {
  readonly name: string;
  /** Keyed by a name that sorts in order of application: `0001_create_sessions`. */
  readonly migrations: Readonly<Record<string, Migration>>;
}

/** What {@link runMigrations} applied, in order. */
export interface MigrationRun {
  readonly set: string;
  readonly applied: readonly string[];
}

/** Which migrations of a set a database has, and which it lacks. */
export interface MigrationState {
  readonly set: string;
  readonly applied: readonly string[];
  readonly pending: readonly string[];
}

// Migrations run on any schema; kysely's own signatures use Kysely<any>.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

function migratorFor(db: AnyKysely, set: MigrationSet): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...set.migrations }) },
    migrationTableName: `${set.name}_migration`,
    migrationLockTableName: `${set.name}_migration_lock`,
  });
}

/**
 * Applies the set's pending migrations, forward only, in one transaction
 * under kysely's migration lock: concurrent callers apply each migration
 * once, and a failure leaves none of the run's migrations applied.
 * Re-running is a no-op.
 *
 * @throws AgentsApiError `database.migration_failed`, naming the migration.
 */
export async function runMigrations(db: AnyKysely, set: MigrationSet): Promise<MigrationRun> {
  const { error, results = [] } = await migratorFor(db, set).migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    throw new AgentsApiError(
      'database.migration_failed',
      `Migration ${failed ? `'${failed}' of ` : ''}'${set.name}' failed: ${error instanceof Error ? error.message : String(error)}`,
      { details: { set: set.name, ...(failed ? { migration: failed } : {}) }, cause: error },
    );
  }
  return { set: set.name, applied: results.filter((result) => result.status === 'Success').map((result) => result.migrationName) };
}

/** Reads which of the set's migrations are applied, without applying any. */
export async function getMigrationState(db: AnyKysely, set: MigrationSet): Promise<MigrationState> {
  const migrations = await migratorFor(db, set).getMigrations();
  return {
    set: set.name,
    applied: migrations.filter((migration) => migration.executedAt !== undefined).map((migration) => migration.name),
    pending: migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name),
  };
}
