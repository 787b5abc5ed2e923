import type { JobEngine } from 'data-machine';
import type { ServerDatabase } from '../database/database';

/** What the app needs of the server's database (the job engine's side is the runtime's). */
export type AppDatabase = Omit<ServerDatabase, 'engine' | 'changeFeed'>;

/** What the app needs of the job engine: it enqueues runs, and `/ready` reports on the workers. */
export interface AppJobEngine {
  readonly engine: JobEngine;
  /** Whether this process's workers run; null when this process runs none (`serve`). */
  workersRunning(): boolean | null;
}
