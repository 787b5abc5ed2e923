import type { DeleteSessionsBeforeOptions } from '@data-machine/agents-api';
import { sql } from 'kysely';
import { z } from 'zod';
import type { DataMachineContext } from '../context';
import { parseInput } from '../input';
import { liveJobStatuses } from '../jobs/job';
import type { Scope } from '../scope/scope';
import { tenantOperation } from '../scope/scoped-operation';
import { inTenant, inTransaction, type TenantTransaction } from '../scope/tenant-transaction';

/** What retention deletes, each after its own window. */
export const retentionKinds = ['jobs', 'failedJobs', 'logs', 'processedItems', 'transcripts'] as const;
export type RetentionKind = (typeof retentionKinds)[number];

/** How many days each kind is kept. */
export type RetentionWindows = Readonly<Record<RetentionKind, number>>;

/** The windows of a tenant that changed none: ended jobs 30 days, failed jobs 30, logs 7, done items 30, chat transcripts 90. */
export const defaultRetention: RetentionWindows = Object.freeze({ jobs: 30, failedJobs: 30, logs: 7, processedItems: 30, transcripts: 90 });

const days = z.int().min(1).max(3650);

/** A tenant's overrides as stored in `dm_tenants.retention`: days by kind, absent keys keep the default. */
export const retentionOverridesSchema = z.object({ jobs: days, failedJobs: days, logs: days, processedItems: days, transcripts: days }).partial().strict();
export type RetentionOverrides = z.infer<typeof retentionOverridesSchema>;

/** What {@link updateRetention} takes: days by kind; null goes back to the default. */
export const retentionPatchSchema = z
  .object({ jobs: days.nullable(), failedJobs: days.nullable(), logs: days.nullable(), processedItems: days.nullable(), transcripts: days.nullable() })
  .partial()
  .strict();
export type RetentionPatch = z.input<typeof retentionPatchSchema>;

/** The windows that apply with `overrides`. */
export function effectiveRetention(overrides: RetentionOverrides): RetentionWindows {
  return { ...defaultRetention, ...overrides };
}

/** The tenant's retention windows (`tenant.manage`). */
export async function getRetention(context: DataMachineContext, scope: Scope): Promise<RetentionWindows> {
  return tenantOperation(context, scope, 'tenant.manage', async (trx) => effectiveRetention(await overridesOf(trx, scope.tenantId)));
}

/** Changes the tenant's retention windows (`tenant.manage`); resolves to the windows that now apply. */
export async function updateRetention(context: DataMachineContext, scope: Scope, patch: RetentionPatch): Promise<RetentionWindows> {
  const changes = parseInput(retentionPatchSchema, patch, 'retention');
  return tenantOperation(context, scope, 'tenant.manage', async (trx) => {
    const next: Record<string, number> = { ...(await overridesOf(trx, scope.tenantId, { forUpdate: true })) };
    for (const [kind, value] of Object.entries(changes)) {
      if (value === null) delete next[kind];
      else if (value !== undefined) next[kind] = value;
    }
    await trx.updateTable('dm_tenants').set({ retention: JSON.stringify(next), updated_at: context.now() }).where('id', '=', scope.tenantId).execute();
    return effectiveRetention(retentionOverridesSchema.parse(next));
  });
}

async function overridesOf(trx: TenantTransaction, tenantId: string, options: { readonly forUpdate?: boolean } = {}): Promise<RetentionOverrides> {
  let query = trx.selectFrom('dm_tenants').select('retention').where('id', '=', tenantId);
  if (options.forUpdate === true) query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  return retentionOverridesSchema.parse(row.retention);
}

/** The one thing retention needs of a transcript store (agents-api's Postgres store has it). */
export interface TranscriptRetention {
  deleteSessionsBefore(options: DeleteSessionsBeforeOptions): Promise<number>;
}

/** Options of {@link runRetention}. */
export interface RetentionOptions {
  /** Where chat transcripts are kept; without one, transcripts are left alone. */
  readonly transcripts?: TranscriptRetention;
  /** Rows per DELETE statement (each in its own short transaction); default 1,000. */
  readonly batchSize?: number;
  /** At most this many batches per kind and tenant in one run; the next run goes on. Default 100. */
  readonly maxBatchesPerKind?: number;
}

/** Rows deleted, by kind. */
export type RetentionCounts = Readonly<Record<RetentionKind, number>>;

/** What retention did in one tenant. */
export interface TenantRetentionReport {
  readonly tenantId: string;
  readonly windows: RetentionWindows;
  readonly deleted: RetentionCounts;
  /** The kinds a cap stopped before everything due was deleted. */
  readonly unfinished: readonly RetentionKind[];
}

/** What one run of retention did, tenant by tenant; the caller logs it. */
export interface RetentionReport {
  readonly tenants: readonly TenantRetentionReport[];
  readonly totals: RetentionCounts;
}

/**
 * Deletes what each tenant keeps no longer, by its windows (see
 * {@link defaultRetention}) counted back from `context.now()`: ended jobs
 * (`completed`, `completed_no_items`, `skipped`, `cancelled`) and `failed`
 * jobs by when they finished, log lines, done processed items, and chat
 * transcripts (through `options.transcripts`). Batches of `batchSize` rows,
 * each its own statement and transaction, up to a cap per run. Never deletes
 * a job that has not ended, nor a job whose parent or a child has not, nor
 * the logs or items of one. The scheduled system job calls it; it
 * authorizes nothing.
 */
export async function runRetention(context: DataMachineContext, options: RetentionOptions = {}): Promise<RetentionReport> {
  const tenants = await inTransaction(context, {}, (trx) => trx.selectFrom('dm_tenants').select('id').orderBy('id').execute());
  const reports: TenantRetentionReport[] = [];
  for (const { id } of tenants) reports.push(await runTenantRetention(context, id, options));
  const totals = Object.fromEntries(retentionKinds.map((kind) => [kind, reports.reduce((sum, report) => sum + report.deleted[kind], 0)])) as Record<RetentionKind, number>;
  return { tenants: reports, totals };
}

/** {@link runRetention} for one tenant. */
export async function runTenantRetention(context: DataMachineContext, tenantId: string, options: RetentionOptions = {}): Promise<TenantRetentionReport> {
  const batchSize = options.batchSize ?? 1_000;
  const maxBatches = options.maxBatchesPerKind ?? 100;
  const windows = effectiveRetention(await inTenant(context, tenantId, null, (trx) => overridesOf(trx, tenantId)));
  const now = context.now().getTime();
  const cutoff = (kind: RetentionKind): Date => new Date(now - windows[kind] * 24 * 60 * 60 * 1000);
  const inBatches = (batch: (trx: TenantTransaction, before: Date) => Promise<number>) => (kind: RetentionKind) =>
    repeat(maxBatches, batchSize, () => inTenant(context, tenantId, null, (trx) => batch(trx, cutoff(kind))));
  const deleters: Record<RetentionKind, (kind: RetentionKind) => Promise<Repeated>> = {
    jobs: inBatches((trx, before) => deleteEndedJobs(trx, tenantId, ['completed', 'completed_no_items', 'skipped', 'cancelled'], before, batchSize)),
    failedJobs: inBatches((trx, before) => deleteEndedJobs(trx, tenantId, ['failed'], before, batchSize)),
    logs: inBatches((trx, before) => deleteLogs(trx, tenantId, before, batchSize)),
    processedItems: inBatches((trx, before) => deleteDoneItems(trx, tenantId, before, batchSize)),
    transcripts: async (kind) => {
      const store = options.transcripts;
      if (!store) return { deleted: 0, finished: true };
      // The store caps a batch at 1,000 sessions.
      const limit = Math.min(batchSize, 1_000);
      return repeat(maxBatches, limit, () => store.deleteSessionsBefore({ tenantId, before: cutoff(kind), limit }));
    },
  };
  const deleted: Partial<Record<RetentionKind, number>> = {};
  const unfinished: RetentionKind[] = [];
  for (const kind of retentionKinds) {
    const outcome = await deleters[kind](kind);
    deleted[kind] = outcome.deleted;
    if (!outcome.finished) unfinished.push(kind);
  }
  return { tenantId, windows, deleted: deleted as RetentionCounts, unfinished };
}

interface Repeated {
  readonly deleted: number;
  readonly finished: boolean;
}

/** Runs `batch` until one deletes fewer than `size` rows (done) or `max` batches ran. */
async function repeat(max: number, size: number, batch: () => Promise<number>): Promise<Repeated> {
  let deleted = 0;
  for (let run = 0; run < max; run += 1) {
    const count = await batch();
    deleted += count;
    if (count < size) return { deleted, finished: true };
  }
  return { deleted, finished: false };
}

const live = [...liveJobStatuses];

/** One batch of ended jobs, oldest first; never one with a live parent or child (a fan-out still running). */
async function deleteEndedJobs(trx: TenantTransaction, tenantId: string, statuses: readonly ('completed' | 'completed_no_items' | 'skipped' | 'cancelled' | 'failed')[], before: Date, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('dm_jobs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('dm_jobs as j')
        .select('j.id')
        .where('j.tenant_id', '=', tenantId)
        .where('j.finished_at', 'is not', null)
        .where('j.finished_at', '<', before)
        .where('j.status', 'in', [...statuses])
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('dm_jobs as child').select('child.id').whereRef('child.parent_job_id', '=', 'j.id').where('child.status', 'in', live))))
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('dm_jobs as parent').select('parent.id').whereRef('parent.id', '=', 'j.parent_job_id').where('parent.status', 'in', live))))
        .orderBy('j.finished_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One batch of log lines, oldest first; never a line of a job that has not ended. */
async function deleteLogs(trx: TenantTransaction, tenantId: string, before: Date, limit: number): Promise<number> {
  const result = await trx
    .deleteFrom('dm_job_logs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('dm_job_logs as line')
        .select('line.id')
        .where('line.tenant_id', '=', tenantId)
        .where('line.created_at', '<', before)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('dm_jobs as j').select('j.id').whereRef('j.id', '=', 'line.job_id').where('j.status', 'in', live))))
        .orderBy('line.created_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One batch of done processed items, oldest first; never one of a job that has not ended. Forgotten items may be taken again. */
async function deleteDoneItems(trx: TenantTransaction, tenantId: string, before: Date, limit: number): Promise<number> {
  const doomed = trx
    .selectFrom('dm_processed_items as item')
    .select(['item.flow_id', 'item.step_key', 'item.source_key'])
    .where('item.tenant_id', '=', tenantId)
    .where('item.status', '=', 'done')
    .where('item.done_at', '<', before)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('dm_jobs as j').select('j.id').whereRef('j.id', '=', 'item.job_id').where('j.status', 'in', live))))
    .orderBy('item.done_at')
    .limit(limit);
  const result = await trx.deleteFrom('dm_processed_items').where(sql<boolean>`(flow_id, step_key, source_key) in (${doomed})`).executeTakeFirst();
  return Number(result.numDeletedRows);
}
