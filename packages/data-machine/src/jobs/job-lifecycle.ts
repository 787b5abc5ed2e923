import { sql, type CompiledQuery, type Expression, type ExpressionBuilder, type QueryCreator, type RawBuilder } from 'kysely';
import type { JobLogsInsert } from '../logs/job-logs-insert';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { DataMachineContext } from '../context';
import type { JobStatus } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { flowNotFound } from './agent-flow';
import { isEndedJobStatus, liveJobStatuses, toJob, type EndedJobStatus, type Job, type JobError, type JobRow, type JobSource } from './job';

// Engine-facing: every function here runs in the caller's tenant transaction
// and authorizes nothing. Only the engine (the worker, the scheduler, the
// reconciler) calls them, after it has decided the work may run; operators
// go through job-repository.ts.

/** What {@link createJob} takes. */
export interface NewJob {
  readonly flowId: string;
  readonly source: JobSource;
  /** Unique per flow: a second create with the same key returns the first job. */
  readonly idempotencyKey?: string | null;
  readonly engineData?: Readonly<Record<string, unknown>>;
  readonly createdBy?: string | null;
}

/** What {@link createJob} did: the job, and whether this call created it. */
export interface CreatedJob {
  readonly job: Job;
  readonly created: boolean;
}

/**
 * Inserts a `pending` job of the flow (its agent and pipeline are the
 * flow's). With an idempotency key already used in the flow, returns the
 * existing job (`created: false`): one `INSERT ... ON CONFLICT DO NOTHING`
 * then a read, so two concurrent creates never make two jobs.
 * `flow.not_found` when the tenant has no such flow. Engine only.
 */
export async function createJob(context: DataMachineContext, trx: TenantTransaction, input: NewJob): Promise<CreatedJob> {
  const idempotencyKey = input.idempotencyKey ?? null;
  const inserted = await jobInsert(context, trx, context.newId('job'), input).executeTakeFirst();
  if (inserted) return { job: toJob(inserted), created: true };
  const existing =
    idempotencyKey === null
      ? undefined
      : await trx.selectFrom('dm_jobs').selectAll().where('flow_id', '=', input.flowId).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
  if (!existing) throw flowNotFound(input.flowId);
  return { job: toJob(existing), created: false };
}

/**
 * The INSERT of {@link createJob}, unexecuted, for the job `id`: it inserts
 * nothing when the tenant has no such flow or the idempotency key is taken.
 * Engine only (`startFlowRun` sends it alone in one round trip).
 */
export function jobInsert(context: DataMachineContext, creator: QueryCreator<DataMachineDatabase>, id: string, input: NewJob) {
  return creator
    .insertInto('dm_jobs')
    .columns(['id', 'tenant_id', 'agent_id', 'flow_id', 'pipeline_id', 'source', 'status', 'engine_data', 'idempotency_key', 'created_by', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('dm_flows')
        .select([
          eb.val(id).as('id'),
          'tenant_id',
          'agent_id',
          'id as flow_id',
          'pipeline_id',
          eb.val(input.source).as('source'),
          eb.val('pending').as('status'),
          sql<string>`${JSON.stringify(input.engineData ?? {})}::jsonb`.as('engine_data'),
          eb.val(input.idempotencyKey ?? null).as('idempotency_key'),
          eb.val(input.createdBy ?? null).as('created_by'),
          eb.val(context.now()).as('created_at'),
        ])
        .where('id', '=', input.flowId),
    )
    .onConflict((conflict) => conflict.columns(['flow_id', 'idempotency_key']).doNothing())
    .returningAll();
}

/**
 * Where a job may go, and what the move records. `processing` starts (from
 * `pending`: a new attempt) or resumes (from `waiting`) the job under the
 * pg-boss job `engineJobId`; pg-boss re-delivering the same job id restarts a
 * `processing` job as a new attempt, while another engine job finds it stale.
 */
export type JobChange =
  | { readonly to: 'processing'; readonly engineJobId: string; readonly currentStep?: string | null }
  | { readonly to: 'waiting'; readonly reason: string }
  | { readonly to: 'pending'; readonly reason: string; readonly error?: JobError }
  | { readonly to: 'failed'; readonly reason?: string | null; readonly error: JobError }
  | { readonly to: Exclude<EndedJobStatus, 'failed'>; readonly reason?: string | null };

/** The statuses each move starts from; any other is stale. */
export const jobTransitions: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  pending: ['processing', 'waiting'],
  processing: ['pending', 'waiting'],
  waiting: ['processing'],
  completed: ['processing', 'waiting'],
  completed_no_items: ['processing', 'waiting'],
  failed: ['pending', 'processing', 'waiting'],
  cancelled: ['pending', 'processing', 'waiting'],
  skipped: ['pending'],
};

/** Options of {@link recordJobProgress} and {@link transitionJob}. */
export interface TransitionOptions {
  /** Apply only while this pg-boss job owns the job (a fence against a worker that lost it). */
  readonly engineJobId?: string;
  /**
   * Apply only while the job is `processing` in this attempt. With
   * `engineJobId`, the full fence of one execution: pg-boss re-delivers an
   * expired job under the same id, so the attempt tells the two apart.
   */
  readonly attempt?: number;
  /**
   * A statement run as a CTE of the same UPDATE: the job's buffered log
   * lines (`jobLogsInsert`), written at no statement of their own. It runs
   * whether or not the UPDATE applies; the caller rolls back a move that did
   * not (docs/decisions/2026-12-01-engine-speed.md, "log lines").
   */
  readonly logLines?: JobLogsInsert;
}

/** What a running job recorded: its current step and engine data. */
export interface JobProgress {
  readonly currentStep?: string | null;
  readonly engineData?: Readonly<Record<string, unknown>>;
}

/** Options of {@link transitionJob}. */
export interface TransitionJobOptions extends TransitionOptions {
  /** Progress written by the same UPDATE as the move (one statement instead of two). */
  readonly progress?: JobProgress;
  /** Also report, in the same statement, whether the job holds queue leases or item claims (see {@link JobHoldings}). */
  readonly holdings?: boolean;
}

/**
 * What a job holds when it moves: queue entries leased to it and items it
 * has claimed (not done). A job's end settles them; knowing there are none
 * spares the settling statements.
 */
export interface JobHoldings {
  readonly queueLeases: boolean;
  readonly claimedItems: boolean;
}

/** A move that applied: the job after it, and its fan-out parent when this move ended the parent too. */
export interface JobTransition {
  readonly job: Job;
  readonly endedParent: Job | null;
  /** Present when asked for with {@link TransitionJobOptions.holdings}. */
  readonly holdings?: JobHoldings;
}

/**
 * Moves a job to `change.to` in one guarded UPDATE from the statuses
 * {@link jobTransitions} allows; resolves null when the job was not in one
 * (a stale move: another worker, the reconciler or an operator got there
 * first) so the caller settles instead of overwriting. Ending a child job
 * counts it on its parent in the same transaction. Engine only.
 */
export async function transitionJob(
  context: DataMachineContext,
  trx: TenantTransaction,
  jobId: string,
  change: JobChange,
  options: TransitionJobOptions = {},
): Promise<JobTransition | null> {
  const query = transitionUpdate(context, creatorWith(trx, options), jobId, change, options);
  if (options.holdings !== true) {
    const row = await query.returningAll().executeTakeFirst();
    return row ? moved(context, trx, row, change, null) : null;
  }
  // Evaluated in the same statement: no round trip to learn there is nothing to settle
  // (docs/decisions/2026-12-01-engine-speed.md).
  const row = await query
    .returningAll()
    .returning((eb) => [eb.exists(queueLeasesOf(eb, jobId)).as('holds_queue_leases'), eb.exists(claimedItemsOf(eb, jobId)).as('holds_claimed_items')])
    .executeTakeFirst();
  if (!row) return null;
  const { holds_queue_leases: queueLeases, holds_claimed_items: claimedItems, ...jobRow } = row;
  return moved(context, trx, jobRow, change, { queueLeases: Boolean(queueLeases), claimedItems: Boolean(claimedItems) });
}

/**
 * Runs a compiled statement and resolves its rows: in an open transaction,
 * or alone in one round trip (`runScoped`, scope/scoped-statements.ts).
 */
export type RunStatement = <Row>(query: CompiledQuery<Row>) => Promise<readonly Row[]>;

/**
 * {@link transitionJob} for a job that has no parent and holds nothing, as
 * ONE statement that needs no transaction around it: the move (the same
 * UPDATE, also guarded by "no parent, no queue lease, no claimed item", so
 * there is nothing to count or settle after it) and, only if it applied,
 * its log lines (a CTE reading the moved row). Resolves null when the move
 * did not apply: stale, or the job has a parent or holds something; the
 * caller then ends it the full way ({@link transitionJob} in a transaction).
 * Engine only (docs/decisions/2026-12-01-engine-speed.md, "one round trip").
 */
export async function transitionUnheldJob(context: DataMachineContext, run: RunStatement, jobId: string, change: JobChange, options: TransitionJobOptions = {}): Promise<Job | null> {
  const update = transitionUpdate(context, context.db, jobId, change, options)
    .where('parent_job_id', 'is', null)
    .where((eb) => eb.not(eb.exists(queueLeasesOf(eb, jobId))))
    .where((eb) => eb.not(eb.exists(claimedItemsOf(eb, jobId))))
    .returningAll();
  const logLines = options.logLines;
  const withMoved = context.db.with('moved', () => update);
  const query = (logLines === undefined ? withMoved : withMoved.with('log_lines', (creator) => logLines(creator as unknown as QueryCreator<DataMachineDatabase>, sql<boolean>`exists (select 1 from moved)`)))
    .selectFrom('moved')
    .selectAll()
    .compile();
  const [row] = await run(query);
  return row === undefined ? null : toJob(row as JobRow);
}

/** The UPDATE of a move, unexecuted: what it sets, from where it may move, and the fence (shared by {@link transitionJob} and {@link transitionUnheldJob}). */
function transitionUpdate(context: DataMachineContext, creator: QueryCreator<DataMachineDatabase>, jobId: string, change: JobChange, options: TransitionJobOptions) {
  const now = context.now();
  const ended = isEndedJobStatus(change.to);
  const error = 'error' in change ? (change.error ?? null) : null;
  let query = creator
    .updateTable('dm_jobs')
    .set((eb) => ({
      status: change.to,
      status_reason: change.to === 'processing' ? null : (change.reason ?? null),
      ...(change.to === 'processing' ? { ...processingColumns(eb, change.engineJobId, now), ...(change.currentStep === undefined ? {} : { current_step: change.currentStep }) } : {}),
      ...(error === null ? {} : { error_code: error.code, error_message: error.message }),
      ...(ended ? { finished_at: now } : {}),
      ...progressColumns(options.progress ?? {}),
    }))
    .where('id', '=', jobId);
  if (change.to === 'processing') {
    const engineJobId = change.engineJobId;
    query = query.where((eb) => startable(eb, engineJobId));
  } else {
    query = query.where('status', 'in', [...jobTransitions[change.to]]);
  }
  return fenced(query, options);
}

/** The queue entries leased to the job. */
function queueLeasesOf(eb: ExpressionBuilder<DataMachineDatabase, 'dm_jobs'>, jobId: string) {
  return eb.selectFrom('dm_queue_entries').select('id').where('leased_by_job_id', '=', jobId);
}

/** The items the job has claimed and not yet done. */
function claimedItemsOf(eb: ExpressionBuilder<DataMachineDatabase, 'dm_jobs'>, jobId: string) {
  return eb.selectFrom('dm_processed_items').select('job_id').where('job_id', '=', jobId).where('status', '=', 'claimed');
}

async function moved(context: DataMachineContext, trx: TenantTransaction, row: JobRow, change: JobChange, holdings: JobHoldings | null): Promise<JobTransition> {
  const endedParent = isEndedJobStatus(change.to) && row.parent_job_id !== null ? await countEndedChild(context, trx, row.parent_job_id, change.to === 'failed') : null;
  return { job: toJob(row), endedParent, ...(holdings === null ? {} : { holdings }) };
}

interface Fenceable {
  where(column: 'engine_job_id', operator: '=', value: string): this;
  where(column: 'attempts', operator: '=', value: number): this;
  where(column: 'status', operator: '=', value: 'processing'): this;
}

/** Narrows an UPDATE of a job to the execution that owns it (see {@link TransitionOptions}). */
function fenced<Query extends Fenceable>(query: Query, options: TransitionOptions): Query {
  let narrowed = query;
  if (options.engineJobId !== undefined) narrowed = narrowed.where('engine_job_id', '=', options.engineJobId);
  if (options.attempt !== undefined) narrowed = narrowed.where('status', '=', 'processing').where('attempts', '=', options.attempt);
  return narrowed;
}

/** The columns a move to `processing` sets (shared by {@link transitionJob} and {@link startDelivery}). */
function processingColumns(eb: ExpressionBuilder<DataMachineDatabase, 'dm_jobs'>, engineJobId: string | Expression<string>, now: Date) {
  return {
    engine_job_id: engineJobId,
    // A new attempt from pending, or pg-boss re-delivering the job it owns; a resume from waiting, or from a released signal wait, is the same attempt.
    attempts: sql<number>`case when ${eb.ref('dm_jobs.status')} = 'waiting' or (${eb.ref('dm_jobs.status')} = 'pending' and ${eb.ref('dm_jobs.status_reason')} = 'released') then ${eb.ref('dm_jobs.attempts')} else ${eb.ref('dm_jobs.attempts')} + 1 end`,
    started_at: sql<Date>`coalesce(${eb.ref('dm_jobs.started_at')}, ${now})`,
  };
}

/** Where a move to `processing` starts from: pending or waiting, or processing under the same pg-boss job (its re-delivery). */
function startable(eb: ExpressionBuilder<DataMachineDatabase, 'dm_jobs'>, engineJobId: string | Expression<string>) {
  return eb.or([eb('dm_jobs.status', 'in', ['pending', 'waiting']), eb.and([eb('dm_jobs.status', '=', 'processing'), eb('dm_jobs.engine_job_id', '=', engineJobId)])]);
}

/** The transaction, or the transaction with {@link TransitionOptions.logLines} as a CTE of the next statement. */
function creatorWith(trx: TenantTransaction, options: TransitionOptions): QueryCreator<DataMachineDatabase> {
  const logLines = options.logLines;
  // The CTE's name is never referenced: the statement runs for its effect.
  return logLines === undefined ? trx : (trx.with('log_lines', logLines) as unknown as QueryCreator<DataMachineDatabase>);
}

/** A delivery of a job by the engine: the pg-boss job, and the waits it may or may not end. */
export interface Delivery {
  readonly engineJobId: string;
  /** Waiting reasons a delivery does not resume (a fan-out parent waits for its children, a signal wait for its signal). */
  readonly heldReasons: readonly string[];
  /** A wait's own deadline: the delivery starts the job only while it is still waiting (`reason`) in the wait `id` (`engine_data.waiting.id`). */
  readonly wake?: { readonly reason: string; readonly id: string };
}

/** A job a delivery started, with what its run needs from its flow and pipeline (unparsed). */
export interface StartedDelivery {
  readonly job: Job;
  readonly steps: unknown;
  readonly stepConfig: unknown;
  readonly maxItems: number;
  /** Whether the job's tenant lets its handlers reach private addresses (docs/decisions/2026-12-01-tenant-private-addresses.md). */
  readonly allowPrivateAddresses: boolean;
}

/**
 * Starts (or resumes) a job for a delivery: one UPDATE that moves it to
 * `processing` as {@link transitionJob} does, only when the delivery may
 * start it ({@link Delivery}), and returns the job with its flow's step
 * configuration and its pipeline's steps (joined, not read before).
 * Resolves null for a stale delivery. One statement: `run` may be an open
 * transaction or one round trip alone (the executor's). Engine only.
 */
export async function startDelivery(context: DataMachineContext, run: RunStatement, jobId: string, delivery: Delivery): Promise<StartedDelivery | null> {
  const query = startUpdate(context, delivery.heldReasons, context.now(), (eb) => ({
    jobId: eb.val(jobId),
    engineJobId: eb.val(delivery.engineJobId),
    wake: delivery.wake === undefined ? null : { reason: delivery.wake.reason, id: eb.val(delivery.wake.id), perRow: false },
  })).compile();
  const [row] = await run(query);
  return row === undefined ? null : toStartedDelivery(row);
}

/**
 * The deliveries a statement of the same batch fetched, as SQL: a JSON array
 * of pg-boss jobs (`id`, `data`: an engine message) in the transaction-local
 * setting named here. Set by the engine's folded fetch (engine/job-fetch.ts).
 */
export const fetchedDeliveriesSetting = 'dm.fetched_deliveries';

/**
 * {@link startDelivery} for the first delivery in {@link fetchedDeliveriesSetting},
 * as ONE statement: the same UPDATE (the same rules: its pg-boss job, its
 * wake), its values read from the setting instead of given. The caller runs
 * it with the tenant keys of that delivery; no row is a stale delivery (or
 * none fetched). `signalReason` is the waiting reason a wake ends. Engine only.
 */
export function startFirstFetchedDelivery(context: DataMachineContext, heldReasons: readonly string[], signalReason: string): CompiledQuery<StartedDeliveryRow> {
  // The statement is the same on every fetch but for the time: compiled once per context and
  // reasons, the time put in its place on each use (a fetch is the worker's hottest path;
  // docs/decisions/2026-12-01-engine-speed.md, "fourth pass").
  const key = `${heldReasons.join('\u0000')}\u0001${signalReason}`;
  const templates = startTemplates.get(context) ?? new Map<string, { readonly query: CompiledQuery<StartedDeliveryRow>; readonly nowAt: number }>();
  startTemplates.set(context, templates);
  let template = templates.get(key);
  if (template === undefined) {
    const placeholder = new Date(0);
    // Stable within the statement: each is one index lookup's key, computed once.
    const first = (path: RawBuilder<unknown>) => sql<string>`(current_setting(${sql.lit(fetchedDeliveriesSetting)})::json->0${path})`;
    const query = startUpdate(context, heldReasons, placeholder, () => ({
      jobId: first(sql`->'data'->>'jobId'`),
      engineJobId: first(sql`->>'id'`),
      tenantId: first(sql`->'data'->>'tenantId'`),
      wake: { reason: signalReason, id: first(sql`->'data'->>'wake'`), perRow: true },
    })).compile() as CompiledQuery<StartedDeliveryRow>;
    template = { query, nowAt: query.parameters.indexOf(placeholder) };
    if (template.nowAt === -1) throw new Error('The start statement has no time parameter.');
    templates.set(key, template);
  }
  const parameters = [...template.query.parameters];
  parameters[template.nowAt] = context.now();
  return { ...template.query, parameters };
}

const startTemplates = new WeakMap<DataMachineContext, Map<string, { readonly query: CompiledQuery<StartedDeliveryRow>; readonly nowAt: number }>>();

/** A row of a start: the job's columns, and its flow's and pipeline's. */
export type StartedDeliveryRow = JobRow & { step_config: unknown; max_items: number; steps: unknown; allow_private_addresses: boolean };

/** {@link StartedDelivery} from a row of the start's UPDATE. */
export function toStartedDelivery(row: StartedDeliveryRow): StartedDelivery {
  const { step_config: stepConfig, max_items: maxItems, steps, allow_private_addresses: allowPrivateAddresses, ...jobRow } = row;
  return { job: toJob(jobRow), steps, stepConfig, maxItems, allowPrivateAddresses };
}

/**
 * Which delivery a start applies: SQL for its job, its pg-boss job, its
 * tenant, and the wake it carries: none, one, or (`perRow`) an expression
 * that is null when it carries none.
 */
interface DeliverySource {
  readonly jobId: Expression<string>;
  readonly engineJobId: Expression<string>;
  readonly tenantId?: Expression<string>;
  readonly wake: { readonly reason: string; readonly id: Expression<string | null>; readonly perRow: boolean } | null;
}

/**
 * The one start UPDATE (docs/decisions/2026-12-01-engine-speed.md): moves the
 * job to `processing` for a delivery when the delivery may start it, joined to
 * its flow, pipeline and tenant. A delivery with a wake starts the job only
 * while it is still waiting (reason) in that very wait; one without never
 * resumes a job waiting for one of `heldReasons`.
 */
function startUpdate(context: DataMachineContext, heldReasons: readonly string[], now: Date, source: (eb: ExpressionBuilder<DataMachineDatabase, 'dm_jobs'>) => DeliverySource) {
  return context.db
    .updateTable('dm_jobs')
    .from(['dm_flows as flow', 'dm_pipelines as pipeline', 'dm_tenants as tenant'])
    .set((eb) => ({ status: 'processing', status_reason: null, ...processingColumns(eb, source(eb).engineJobId, now) }))
    .whereRef('flow.id', '=', 'dm_jobs.flow_id')
    .whereRef('pipeline.id', '=', 'dm_jobs.pipeline_id')
    .whereRef('tenant.id', '=', 'dm_jobs.tenant_id')
    .where((eb) => {
      const { jobId, engineJobId, tenantId, wake } = source(eb);
      const held = eb.or([eb('dm_jobs.status', '!=', 'waiting'), eb(sql<string>`coalesce(${eb.ref('dm_jobs.status_reason')}, '')`, 'not in', [...heldReasons])]);
      const inWait = (id: Expression<string | null>) =>
        eb.and([eb('dm_jobs.status', '=', 'waiting'), eb('dm_jobs.status_reason', '=', wake?.reason ?? ''), eb(sql<string>`${eb.ref('dm_jobs.engine_data')}->'waiting'->>'id'`, '=', id)]);
      return eb.and([
        eb('dm_jobs.id', '=', jobId),
        ...(tenantId === undefined ? [] : [eb('dm_jobs.tenant_id', '=', tenantId)]),
        startable(eb, engineJobId),
        // A wake given is decided here; one read in SQL (a fetched delivery's), there.
        wake === null ? held : !wake.perRow ? inWait(wake.id) : eb.or([eb.and([eb(wake.id, 'is', null), held]), eb.and([eb(wake.id, 'is not', null), inWait(wake.id)])]),
      ]);
    })
    .returningAll('dm_jobs')
    .returning(['flow.step_config', 'flow.max_items', 'pipeline.steps', 'tenant.allow_private_addresses']);
}

function progressColumns(progress: JobProgress): { current_step?: string | null; engine_data?: string } {
  return {
    ...(progress.currentStep === undefined ? {} : { current_step: progress.currentStep }),
    ...(progress.engineData === undefined ? {} : { engine_data: JSON.stringify(progress.engineData) }),
  };
}

/**
 * Records the engine's progress on a `processing` job: its current step and
 * engine data. Resolves false when the job is no longer processing (under
 * `engineJobId` and in `attempt`, when given). Engine only.
 */
export async function recordJobProgress(trx: TenantTransaction, jobId: string, progress: JobProgress, options: TransitionOptions = {}): Promise<boolean> {
  const query = creatorWith(trx, options).updateTable('dm_jobs').set(progressColumns(progress)).where('id', '=', jobId).where('status', '=', 'processing');
  const result = await fenced(query, options).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** One item of a fan-out: the child job runs the remaining steps on it. */
export interface ChildItem {
  /** The item's source key; unique among the parent's children. */
  readonly itemKey: string;
  readonly engineData?: Readonly<Record<string, unknown>>;
}

/** Options of {@link createChildJobs}. */
export interface ChildJobOptions {
  /** Rows per INSERT statement; default 500. */
  readonly batchSize?: number;
}

/**
 * Creates one `pending` child job per item under `parentJobId`, in multi-row
 * INSERTs of `batchSize`, and sets the parent's `children_total` to its
 * number of children. Idempotent per (parent, item): calling again with the
 * same items creates none twice. The parent's claims of the items pass to
 * their children, so a failed child releases its own item. Resolves to the children this call created
 * (the ones to enqueue). Engine only; call it in the transaction that moves
 * the parent to `waiting`, so no child can end before the total is set.
 */
export async function createChildJobs(
  context: DataMachineContext,
  trx: TenantTransaction,
  parentJobId: string,
  items: readonly ChildItem[],
  options: ChildJobOptions = {},
): Promise<readonly Job[]> {
  const parent = await trx.selectFrom('dm_jobs').selectAll().where('id', '=', parentJobId).forNoKeyUpdate().executeTakeFirst();
  if (!parent) throw new DataMachineError('job.not_found', `There is no job "${parentJobId}".`, { details: { job: parentJobId } });
  const batchSize = options.batchSize ?? 500;
  const now = context.now();
  const created: Job[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const rows = items.slice(start, start + batchSize).map((item) => childRow(context, parent, item, now));
    const inserted = await trx
      .insertInto('dm_jobs')
      .values(rows)
      .onConflict((conflict) => conflict.columns(['flow_id', 'idempotency_key']).doNothing())
      .returningAll()
      .execute();
    created.push(...inserted.map(toJob));
  }
  // Each child owns the claim of its item from here on: its failure releases just that item.
  await sql`
    update dm_processed_items p set job_id = c.id
    from dm_jobs c
    where c.parent_job_id = ${parentJobId} and p.job_id = ${parentJobId} and p.flow_id = c.flow_id and p.source_key = c.item_key`.execute(trx);
  await trx
    .updateTable('dm_jobs')
    .set((eb) => ({ children_total: eb.selectFrom('dm_jobs as child').select((count) => count.fn.countAll<number>().as('n')).where('child.parent_job_id', '=', parentJobId) }))
    .where('id', '=', parentJobId)
    .execute();
  return created;
}

function childRow(context: DataMachineContext, parent: JobRow, item: ChildItem, now: Date) {
  return {
    id: context.newId('job'),
    tenant_id: parent.tenant_id,
    agent_id: parent.agent_id,
    flow_id: parent.flow_id,
    pipeline_id: parent.pipeline_id,
    parent_job_id: parent.id,
    source: parent.source,
    status: 'pending' as const,
    current_step: parent.current_step,
    engine_data: JSON.stringify(item.engineData ?? {}),
    item_key: item.itemKey,
    // Unique per flow: a repeated fan-out finds the child it made.
    idempotency_key: `${parent.id}/${item.itemKey}`,
    created_by: parent.created_by,
    created_at: now,
  };
}

/**
 * Counts one ended child on its parent in one UPDATE. Concurrent enders
 * queue on the parent's row and each re-reads it, so exactly one of them sees
 * `children_ended + 1 = children_total` and derives the parent's end:
 * `completed`, or `failed` with reason `children_failed:<n>`. A parent that
 * already ended (cancelled) only counts. Resolves to the parent if this ended it.
 */
async function countEndedChild(context: DataMachineContext, trx: TenantTransaction, parentJobId: string, failed: boolean): Promise<Job | null> {
  const failedIncrement = failed ? 1 : 0;
  const live = sql.join(liveJobStatuses.map((status) => sql.lit(status)));
  // Evaluated on the row before the update: this child is the last one of a live parent.
  const lastChild = sql`children_ended + 1 >= children_total and status in (${live})`;
  const failedNow = sql`children_failed + ${failedIncrement}`;
  // Lock first, in its own statement: concurrent enders queue here, and each
  // then reads the status it is about to change. FOR NO KEY UPDATE, not FOR
  // UPDATE: an ender's update of its child may hold KEY SHARE on the parent
  // (the foreign key check), which FOR UPDATE would wait on, in a cycle with
  // the other enders (a deadlock the concurrent-enders test caught).
  const prior = await trx.selectFrom('dm_jobs').select('status').where('id', '=', parentJobId).forNoKeyUpdate().executeTakeFirst();
  if (!prior) return null;
  const { rows } = await sql<JobRow>`
    update dm_jobs set
      children_ended = children_ended + 1,
      children_failed = ${failedNow},
      status = case when ${lastChild} then (case when ${failedNow} > 0 then 'failed' else 'completed' end) else status end,
      status_reason = case when ${lastChild} then (case when ${failedNow} > 0 then 'children_failed:' || (${failedNow})::text else null end) else status_reason end,
      finished_at = case when ${lastChild} then ${context.now()}::timestamptz else finished_at end
    where id = ${parentJobId}
    returning *`.execute(trx);
  const parent = rows[0];
  if (!parent || isEndedJobStatus(prior.status) || !isEndedJobStatus(parent.status)) return null;
  return toJob(parent);
}
