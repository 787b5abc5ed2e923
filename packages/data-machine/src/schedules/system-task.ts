import type { DataMachineContext } from '../context';

/** Where the scheduler reports what it did; pino's `info(object, message)` and `error(object, message)` fit. */
export interface SchedulerLogger {
  info(entry: Readonly<Record<string, unknown>>, message: string): void;
  error(entry: Readonly<Record<string, unknown>>, message: string): void;
}

/**
 * A recurring piece of system work the scheduler runs every `everyMs` on
 * whichever process holds the scheduler lease (retention is one). Its next
 * run is kept in the database, so a restart neither repeats nor forgets it.
 */
export interface SystemTask {
  /** Stable: the task's next run is kept under this name. */
  readonly name: string;
  readonly everyMs: number;
  /** Does the work; `context.now()` is the scheduler's tick. A throw is logged and the task runs again at its next time. */
  run(context: DataMachineContext, logger: SchedulerLogger): Promise<void>;
}
