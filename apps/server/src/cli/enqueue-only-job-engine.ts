import { createJobEngine, type EngineDatabase, type JobEngine } from 'data-machine';

/**
 * The job engine of a CLI command that only enqueues (`flows run`, `jobs
 * retry`, `jobs undo`, `approvals accept|reject`, `chat`'s `run_flow`):
 * never started. Each enqueue is pg-boss's insert run on the caller's own
 * transaction, not on a running pg-boss, and a worker elsewhere runs the job;
 * so the command opens no connection and starts no timer for the engine, and
 * there is nothing to stop.
 */
export function createEnqueueOnlyJobEngine(database: EngineDatabase): JobEngine {
  return createJobEngine({ database, supervise: false });
}
