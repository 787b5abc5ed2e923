import type { Selectable } from 'kysely';
import type { JobSource, JobStatus, JobTable } from '../database/data-machine-database';

export type { JobSource, JobStatus } from '../database/data-machine-database';

/** Every job status; `status_reason` says why a job is in it. */
export const jobStatuses = ['pending', 'processing', 'waiting', 'completed', 'completed_no_items', 'failed', 'cancelled', 'skipped'] as const satisfies readonly JobStatus[];

/** The statuses of a job that has not ended: its rows (and logs) are never deleted by retention. */
export const liveJobStatuses = ['pending', 'processing', 'waiting'] as const satisfies readonly JobStatus[];

/** The statuses a job ends in; a job never leaves one. */
export const endedJobStatuses = ['completed', 'completed_no_items', 'failed', 'cancelled', 'skipped'] as const satisfies readonly JobStatus[];

/** A status a job ends in. */
export type EndedJobStatus = (typeof endedJobStatuses)[number];

/** Whether `status` is one a job ends in. */
export function isEndedJobStatus(status: JobStatus): status is EndedJobStatus {
  return (endedJobStatuses as readonly JobStatus[]).includes(status);
}

/** A typed failure: a stable code and a message for humans. */
export interface JobError {
  readonly code: string;
  readonly message: string;
}

/** One run of a flow, as the product shows it. */
export interface Job {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly flowId: string;
  readonly pipelineId: string;
  /** The fan-out parent of a child job, or null. */
  readonly parentJobId: string | null;
  readonly source: JobSource;
  readonly status: JobStatus;
  /** Why the job is in its status (`already_running`, `children_failed:2`, ...), separate from it. */
  readonly statusReason: string | null;
  /** The key of the pipeline step the job is at. */
  readonly currentStep: string | null;
  /** The item and the step outputs, as the engine keeps them. */
  readonly engineData: Readonly<Record<string, unknown>>;
  /** The source key of the item a child job runs on. */
  readonly itemKey: string | null;
  readonly idempotencyKey: string | null;
  /** How many times a worker started it. */
  readonly attempts: number;
  /** The pg-boss job that executes it, while one does. */
  readonly engineJobId: string | null;
  /** A fan-out parent's children: how many, how many ended, how many of those failed. */
  readonly children: { readonly total: number; readonly ended: number; readonly failed: number };
  readonly error: JobError | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** A job row as a query reads it. */
export type JobRow = Selectable<JobTable>;

/** A job row as the product shows it. */
export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    agentId: row.agent_id,
    flowId: row.flow_id,
    pipelineId: row.pipeline_id,
    parentJobId: row.parent_job_id,
    source: row.source,
    status: row.status,
    statusReason: row.status_reason,
    currentStep: row.current_step,
    engineData: row.engine_data,
    itemKey: row.item_key,
    idempotencyKey: row.idempotency_key,
    attempts: row.attempts,
    engineJobId: row.engine_job_id,
    children: { total: row.children_total, ended: row.children_ended, failed: row.children_failed },
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    createdBy: row.created_by,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
