import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { DataMachineDatabase } from './database/data-machine-database';
import { appRole } from './database/migrations/0001-identity';
import type { MemoryPromptCache } from './agents/memory-prompt-cache';
import type { BearerAccessCache } from './scope/bearer-access-cache';

/** Where the product reports what it refused; pino's `warn(object, message)` fits. */
export interface DenyLogger {
  warn(entry: Readonly<Record<string, unknown>>, message: string): void;
}

/**
 * What every product operation runs with, passed explicitly: the database,
 * the clock, ids, and where denials are logged. No module-level state.
 */
export interface DataMachineContext {
  readonly db: Kysely<DataMachineDatabase>;
  readonly now: () => Date;
  readonly newId: (prefix: string) => string;
  readonly logger: DenyLogger;
  /**
   * The plain role scoped transactions switch to (`SET LOCAL ROLE`), so that
   * row-level security holds even for a superuser connection; null to stay
   * the connecting user (then it must not be a superuser nor exempt from RLS).
   */
  readonly appRole: string | null;
  /**
   * Called in the transaction that records an outbox event, so a host can
   * ask for a dispatch that becomes visible when (and only if) the event
   * commits: `outboxKick(engine)`. Without it, events wait for the outbox
   * worker's next tick. `trx` is the event's tenant-scoped transaction
   * (`TenantTransaction`, scope/tenant-transaction.ts, which depends on this file).
   */
  readonly onEventRecorded?: (trx: Transaction<DataMachineDatabase>) => Promise<void>;
  /**
   * Keeps what `resolveBearerAccess` reads between requests, emptied by the
   * database's change feed the host listens to (`createBearerAccessCache`).
   * Without it, every request reads the database.
   */
  readonly accessCache?: BearerAccessCache;
  /**
   * Keeps the memory part of agents' chat prompts between turns, emptied by
   * the database's change feed the host listens to (`createMemoryPromptCache`).
   * Without it, every turn reads the memory files.
   */
  readonly memoryPromptCache?: MemoryPromptCache;
}

/** Options of {@link createDataMachineContext}; only `db` is required. */
export interface DataMachineContextOptions {
  readonly db: Kysely<DataMachineDatabase>;
  readonly now?: () => Date;
  readonly newId?: (prefix: string) => string;
  readonly logger?: DenyLogger;
  readonly appRole?: string | null;
  readonly onEventRecorded?: (trx: Transaction<DataMachineDatabase>) => Promise<void>;
  readonly accessCache?: BearerAccessCache;
  readonly memoryPromptCache?: MemoryPromptCache;
}

/** A context with defaults: the system clock, random ids, denials to `console.warn`, the `dm_app` role. */
export function createDataMachineContext(options: DataMachineContextOptions): DataMachineContext {
  return {
    db: options.db,
    now: options.now ?? (() => new Date()),
    newId: options.newId ?? randomId,
    logger: options.logger ?? { warn: (entry, message) => console.warn(message, entry) },
    appRole: options.appRole === undefined ? appRole : options.appRole,
    ...(options.onEventRecorded === undefined ? {} : { onEventRecorded: options.onEventRecorded }),
    ...(options.accessCache === undefined ? {} : { accessCache: options.accessCache }),
    ...(options.memoryPromptCache === undefined ? {} : { memoryPromptCache: options.memoryPromptCache }),
  };
}

/** `prefix_` and 128 random bits in base 32 hex: unguessable, URL-safe. */
export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`;
}
