import { CompiledQuery, sql } from 'kysely';
import { fetchedDeliveriesSetting, startFirstFetchedDelivery, toStartedDelivery, type StartedDelivery, type StartedDeliveryRow } from '../jobs/job-lifecycle';
import { inlineParameters, runScopedBatch } from '../scope/scoped-statements';
import { engineQueues, type EngineMessage, type JobEngine } from './job-engine';
import { engineCommit, fanOutReason, type JobExecutorOptions } from './job-executor';
import { signalWaitReason } from './job-signals';

/** A pg-boss job of the engine's queue, as the worker fetched it. */
export interface FetchedDelivery {
  /** The pg-boss job. */
  readonly id: string;
  readonly data: EngineMessage;
  /**
   * What the fetch's own round trip did with the product job: started it, or
   * null (a stale delivery). Absent when the fetch did not try: a job of
   * another tenant than the batch's first, or a fetch that was not folded.
   */
  readonly started?: StartedDelivery | null;
}

/**
 * Fetches up to `batchSize` deliveries and starts their product jobs in ONE
 * round trip (docs/decisions/2026-12-01-engine-speed.md, "fourth pass"): one
 * simple-protocol batch of pg-boss's own fetch (as the connection's role,
 * which notes what it fetched in a transaction-local setting), the keys with
 * the tenant of the first fetched job, and the start UPDATE for every fetched
 * job of that tenant (as the plain role, under row-level security). Jobs of
 * other tenants are started by the executor as before. If pg-boss's fetch is
 * not of the shape this folds, or the folded batch fails, pg-boss fetches
 * alone and the executor starts every job.
 */
export async function fetchDeliveries(options: JobExecutorOptions, batchSize: number): Promise<readonly FetchedDelivery[]> {
  const fetch = await foldedFetch(options.engine, batchSize);
  if (fetch !== null) {
    try {
      return await fetchAndStart(options, fetch);
    } catch (error) {
      // A start that fails fails the whole batch, its fetch too (nothing was taken): the plain way
      // below lets each job's own start fail alone, so one bad job cannot block the queue.
      options.processLogger?.error({ error: error instanceof Error ? error.message : String(error) }, 'folded fetch failed; fetching the plain way');
    }
  }
  const jobs = await options.engine.boss.fetch<EngineMessage>(engineQueues.job, { batchSize });
  return jobs.map((job) => ({ id: job.id, data: job.data }));
}

async function fetchAndStart(options: JobExecutorOptions, fetch: CompiledQuery): Promise<readonly FetchedDelivery[]> {
  const { context } = options;
  const firstTenant = sql<string>`coalesce(current_setting(${sql.lit(fetchedDeliveriesSetting)})::json->0->'data'->>'tenantId', '')`;
  const { leading, rows } = await runScopedBatch(context, options.engine.simpleQuery, {
    leading: [fetch],
    keys: { tenantId: firstTenant, userId: null },
    statements: [startFirstFetchedDelivery(context, [fanOutReason, signalWaitReason], signalWaitReason)],
    options: engineCommit,
  });
  const noted = (leading[0]?.[0] as { fetched: string } | undefined)?.fetched ?? '[]';
  const fetched = JSON.parse(noted) as { id: string; data: EngineMessage }[];
  const [row] = rows[0] as StartedDeliveryRow[];
  return fetched.map((delivery, index) => (index === 0 ? { ...delivery, started: row === undefined ? null : toStartedDelivery(row) } : delivery));
}

const folds = new WeakMap<JobEngine, Map<number, Promise<CompiledQuery | null>>>();

/**
 * pg-boss's fetch (`WITH next as (...), grouped as (...) UPDATE ... RETURNING
 * ...`, its SQL kept whole) made to note the jobs it fetched: its UPDATE
 * becomes the CTE `fetched`, and the statement returns them as one JSON
 * array, also set as {@link fetchedDeliveriesSetting} for the rest of the
 * batch. Null when pg-boss's SQL is not of that shape (the worker then
 * fetches the plain way). Built once per engine and batch size.
 */
export function foldedFetch(engine: JobEngine, batchSize: number): Promise<CompiledQuery | null> {
  const byBatchSize = folds.get(engine) ?? new Map<number, Promise<CompiledQuery | null>>();
  folds.set(engine, byBatchSize);
  let fold = byBatchSize.get(batchSize);
  if (fold === undefined) {
    fold = engine.fetchStatement(batchSize).then((statement) => {
      const text = inlineParameters(statement);
      const updates = [...text.matchAll(/\)\s*UPDATE\s/gi)];
      if (!/^\s*WITH\s/i.test(text) || updates.length !== 1 || !/\sRETURNING\s/i.test(text)) return null;
      const at = (updates[0]?.index ?? 0) + 1;
      const noted = `coalesce((select json_agg(json_build_object('id', fetched.id, 'data', fetched.data)) from fetched), '[]')::text`;
      return CompiledQuery.raw(`${text.slice(0, at)}, fetched as (${text.slice(at).trim()}) select set_config('${fetchedDeliveriesSetting}', ${noted}, true) as fetched`, []);
    });
    byBatchSize.set(batchSize, fold);
    // A failure to build it is not kept: the next fetch tries again.
    void fold.catch(() => byBatchSize.delete(batchSize));
  }
  return fold;
}
