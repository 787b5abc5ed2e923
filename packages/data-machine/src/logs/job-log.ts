import { z } from 'zod';
import { sql, type Expression, type Selectable, type SqlBool } from 'kysely';
import type { DataMachineContext } from '../context';
import type { JobLogTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import { agentNotFound, type Scope } from '../scope/scope';
import { findAgentJob } from '../jobs/job-repository';
import type { JobLogsInsert } from './job-logs-insert';

export type { JobLogsInsert } from './job-logs-insert';
import { decodeCursor, pageOf, pageOptionsSchema, type Page } from '../jobs/page-cursor';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';

/** A log line's level. */
export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

/** A log line of a job (or of an agent, without a job). */
export interface JobLogLine {
  readonly id: string;
  readonly agentId: string;
  readonly jobId: string | null;
  readonly level: LogLevel;
  readonly message: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly createdAt: Date;
}

/** What {@link writeJobLog} takes: the job it is about (or, for an agent-level line, the agent), and the line. */
export type NewJobLogLine = ({ readonly jobId: string } | { readonly agentId: string }) & {
  readonly level: LogLevel;
  readonly message: string;
  readonly context?: Readonly<Record<string, unknown>>;
};

// Messages are for people; a runaway step must not fill the table.
const maxMessageLength = 4_000;

/**
 * Writes a log line in the caller's tenant transaction: a job's line takes
 * the job's agent. Engine only (no authorization): the worker writes what a
 * job did, operators read it with {@link listJobLogs} and {@link listAgentLogs}.
 * A job or agent the tenant does not have is `job.not_found` / `agent.not_found`.
 */
export async function writeJobLog(context: DataMachineContext, trx: TenantTransaction, line: NewJobLogLine): Promise<void> {
  const fields = { level: line.level, message: line.message.slice(0, maxMessageLength), context: JSON.stringify(line.context ?? {}), created_at: context.now() };
  if ('jobId' in line) {
    const written = await trx
      .insertInto('dm_job_logs')
      .columns(['tenant_id', 'agent_id', 'job_id', 'level', 'message', 'context', 'created_at'])
      .expression((eb) =>
        eb
          .selectFrom('dm_jobs')
          .select(['tenant_id', 'agent_id', 'id as job_id', eb.val(fields.level).as('level'), eb.val(fields.message).as('message'), eb.cast(eb.val(fields.context), 'jsonb').as('context'), eb.val(fields.created_at).as('created_at')])
          .where('id', '=', line.jobId),
      )
      .executeTakeFirst();
    if (Number(written.numInsertedOrUpdatedRows ?? 0) === 0) throw new DataMachineError('job.not_found', `There is no job "${line.jobId}".`, { details: { job: line.jobId } });
    return;
  }
  const written = await trx
    .insertInto('dm_job_logs')
    .columns(['tenant_id', 'agent_id', 'job_id', 'level', 'message', 'context', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('dm_agents')
        .select(['tenant_id', 'id as agent_id', eb.val(null).as('job_id'), eb.val(fields.level).as('level'), eb.val(fields.message).as('message'), eb.cast(eb.val(fields.context), 'jsonb').as('context'), eb.val(fields.created_at).as('created_at')])
        .where('id', '=', line.agentId),
    )
    .executeTakeFirst();
  if (Number(written.numInsertedOrUpdatedRows ?? 0) === 0) throw agentNotFound(line.agentId);
}

/** A line of {@link writeJobLogs}: `at` is when it was logged (default: when written). */
export interface JobLogEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly context?: Readonly<Record<string, unknown>>;
  readonly at?: Date;
}

/**
 * Writes a job's lines in the caller's tenant transaction with one
 * multi-row INSERT, in order (their ids follow it). Engine only, like
 * {@link writeJobLog}; a job the tenant does not have is `job.not_found`.
 */
export async function writeJobLogs(context: DataMachineContext, trx: TenantTransaction, jobId: string, lines: readonly JobLogEntry[]): Promise<void> {
  if (lines.length === 0) return;
  const written = await jobLogsInsert(context, jobId, lines)(trx).executeTakeFirst();
  if (Number(written.numInsertedOrUpdatedRows ?? 0) === 0) throw new DataMachineError('job.not_found', `There is no job "${jobId}".`, { details: { job: jobId } });
}

/**
 * The INSERT {@link writeJobLogs} runs, unexecuted: the engine runs it as a
 * CTE of the fenced UPDATE that ends or advances the job, so its lines cost
 * no statement of their own (docs/decisions/2026-12-01-engine-speed.md).
 * One JSON parameter, whatever the number of lines: the same statement on both drivers.
 */
export function jobLogsInsert(context: DataMachineContext, jobId: string, lines: readonly JobLogEntry[]): JobLogsInsert {
  const now = context.now();
  const rows = lines.map((line) => ({ level: line.level, message: line.message.slice(0, maxMessageLength), context: line.context ?? {}, at: (line.at ?? now).toISOString() }));
  const line = sql<{ value: unknown; ordinality: number }>`jsonb_array_elements(${JSON.stringify(rows)}::jsonb) with ordinality`.as('line');
  return (creator, onlyIf) =>
    creator
      .insertInto('dm_job_logs')
      .columns(['tenant_id', 'agent_id', 'job_id', 'level', 'message', 'context', 'created_at'])
      .expression((eb) =>
        eb
          .selectFrom(['dm_jobs as job', line])
          .select([
            'job.tenant_id',
            'job.agent_id',
            'job.id',
            sql<LogLevel>`line.value->>'level'`.as('level'),
            sql<string>`line.value->>'message'`.as('message'),
            sql<string>`line.value->'context'`.as('context'),
            sql<Date>`(line.value->>'at')::timestamptz`.as('created_at'),
          ])
          .where('job.id', '=', jobId)
          .$if(onlyIf !== undefined, (query) => query.where(onlyIf as Expression<SqlBool>))
          .orderBy(sql`line.ordinality`),
      );
}

/** What {@link listAgentLogs} takes: a page, and optionally the least level. */
export const agentLogListOptionsSchema = pageOptionsSchema.extend({ minLevel: z.enum(logLevels).optional() }).strict();
export type AgentLogListOptions = z.input<typeof agentLogListOptionsSchema>;

/** A job's log lines, oldest first, a page at a time (`logs.read`); another agent's job is `job.not_found`. */
export async function listJobLogs(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string, options: z.input<typeof pageOptionsSchema> = {}): Promise<Page<JobLogLine>> {
  const { limit, cursor } = parseInput(pageOptionsSchema, options, 'log list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId);
    let query = trx.selectFrom('dm_job_logs').selectAll().where('job_id', '=', job.id);
    // The identity id is the order lines were written in.
    if (after !== undefined) query = query.where('id', '>', after.id);
    const rows = await query.orderBy('id').limit(limit + 1).execute();
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), toLogLine);
  });
}

/** The agent's log lines, newest first, a page at a time (`logs.read`), optionally from a least level up. */
export async function listAgentLogs(context: DataMachineContext, scope: Scope, agentRef: string, options: AgentLogListOptions = {}): Promise<Page<JobLogLine>> {
  const { limit, cursor, minLevel } = parseInput(agentLogListOptionsSchema, options, 'log list options');
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    let query = trx.selectFrom('dm_job_logs').selectAll().where('agent_id', '=', agent.id);
    if (minLevel !== undefined) query = query.where('level', 'in', logLevels.slice(logLevels.indexOf(minLevel)));
    // Served by (agent_id, created_at); the id breaks ties within a millisecond.
    if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.at, after.id)));
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.id }), toLogLine);
  });
}

function toLogLine(row: Selectable<JobLogTable>): JobLogLine {
  return { id: row.id, agentId: row.agent_id, jobId: row.job_id, level: row.level, message: row.message, context: row.context, createdAt: row.created_at };
}
