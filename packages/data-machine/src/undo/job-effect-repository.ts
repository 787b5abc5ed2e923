import type { Selectable } from 'kysely';
import type { DataMachineContext } from '../context';
import type { JobEffectTable, UndoOutcome } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { handlerEffectDetailSchema, handlerEffectPrefix } from '../handlers/handler-effect';
import { parseInput } from '../input';
import { findAgentJob } from '../jobs/job-repository';
import { jobAncestors, jobTree } from '../jobs/job-tree';
import { decodeCursor, pageOf, pageOptionsSchema, type KeysetPosition, type Page, type PageOptions } from '../jobs/page-cursor';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';

// Operator-facing: reading a job's effects is reading the job (`logs.read`);
// a job of another agent is `job.not_found`, exactly as a missing one.

/**
 * Where one effect stands with undo: never undone (`not_undone`), reverted
 * by an undo (`undone`), or left by the latest undo that reached it:
 * `skipped` with the reason (changed remotely, already gone, ...) or
 * `failed` with the error. A later undo that reverts it makes it `undone`.
 */
export type JobEffectUndoState =
  | { readonly status: 'not_undone' }
  | { readonly status: 'undone'; readonly undoId: string; readonly at: Date }
  | { readonly status: 'skipped'; readonly undoId: string; readonly reason: string; readonly message: string | null; readonly at: Date }
  | { readonly status: 'failed'; readonly undoId: string; readonly error: { readonly code: string; readonly message: string }; readonly at: Date };

/** A side effect a publish handler reported during a job, as the product shows it. */
export interface JobEffect {
  /** The job that recorded it: the job asked about or one of its fan-out children. */
  readonly jobId: string;
  readonly key: string;
  /** The pipeline step that made it; null only for a record the product cannot read. */
  readonly step: string | null;
  readonly handler: string | null;
  /** `wordpress_post_created`, `webhook_delivered`, ... */
  readonly kind: string;
  /** The remote object within the step, as the handler named it (`post:12`, `delivery:<key>`). */
  readonly ref: string;
  /** An http(s) address of the remote object or delivery, when the handler recorded one (a post's link, a webhook's url). */
  readonly url: string | null;
  /** Whether the handler said it can reverse it. */
  readonly reversible: boolean;
  readonly at: Date;
  readonly undo: JobEffectUndoState;
}

type EffectRow = Pick<Selectable<JobEffectTable>, 'job_id' | 'key' | 'kind' | 'detail' | 'created_at' | 'seq' | 'reverted_by' | 'reverted_at'>;

/** An undo report line for an effect, with its undo's order. */
interface UndoLine {
  readonly job_id: string;
  readonly effect_key: string;
  readonly undo_id: string;
  readonly outcome: UndoOutcome;
  readonly reason: string | null;
  readonly error_code: string | null;
  readonly error_message: string | null;
  readonly created_at: Date;
}

/**
 * The effects handlers reported during a job of the agent and its fan-out
 * children (what an undo of the job goes through), oldest first, a page at
 * a time, each with where it stands with undo (`logs.read`). The engine's
 * own markers (publish and step records) are not effects and are left out.
 *
 * @example
 * const page = await listJobEffects(context, scope, 'bot', jobId);
 * page.items.map((effect) => `${effect.step} ${effect.kind} ${effect.ref} ${effect.undo.status}`);
 */
export async function listJobEffects(context: DataMachineContext, scope: Scope, agentRef: string, jobId: string, options: PageOptions = {}): Promise<Page<JobEffect>> {
  const { limit, cursor } = parseInput(pageOptionsSchema, options, 'job effect list options');
  const after = cursor === undefined ? undefined : effectPosition(cursor);
  return agentOperation(context, scope, 'logs.read', agentRef, async (trx, agent) => {
    const job = await findAgentJob(trx, agent.id, jobId);
    const tree = await jobTree(trx, job.id);
    let query = trx
      .selectFrom('dm_job_effects')
      .select(['job_id', 'key', 'kind', 'detail', 'created_at', 'seq', 'reverted_by', 'reverted_at'])
      .where('job_id', 'in', tree)
      .where('key', 'like', `${handlerEffectPrefix}%`);
    // Ties on the time (one clock tick, a frozen test clock) are broken by insertion order.
    if (after !== undefined) query = query.where((eb) => eb(eb.refTuple('created_at', 'seq'), '>', eb.tuple(after.at, after.id)));
    const rows = await query.orderBy('created_at').orderBy('seq').limit(limit + 1).execute();
    const lines = await latestUndoLines(trx, [...tree, ...(await jobAncestors(trx, job.parent_job_id))], rows.slice(0, limit));
    return pageOf(rows, limit, (row) => ({ at: row.created_at, id: row.seq }), (row) => toJobEffect(row, lines.get(lineKey(row.job_id, row.key))));
  });
}

/** The position a cursor of {@link listJobEffects} names: a time and an effect's `seq` (a whole number). */
function effectPosition(cursor: string): KeysetPosition {
  const position = decodeCursor(cursor);
  if (!/^\d{1,18}$/.test(position.id)) throw new DataMachineError('input.invalid', 'Invalid cursor: pass the nextCursor of a previous page.', { details: { issues: [{ path: 'cursor', message: 'not a cursor' }] } });
  return position;
}

const lineKey = (jobId: string, effectKey: string): string => `${jobId} ${effectKey}`;

/**
 * The latest undo report line of each effect of `rows` not reverted. Only
 * undos of the jobs that can reach them are read (`undoJobIds`: the job's
 * tree and its fan-out parents), so the report table's primary key
 * (`undo_id` first) serves the lookup.
 */
async function latestUndoLines(trx: TenantTransaction, undoJobIds: readonly string[], rows: readonly EffectRow[]): Promise<ReadonlyMap<string, UndoLine>> {
  const open = rows.filter((row) => row.reverted_by === null);
  if (open.length === 0) return new Map();
  const lines = await trx
    .selectFrom('dm_undo_results as result')
    .innerJoin('dm_undos as undo', 'undo.id', 'result.undo_id')
    .select(['result.job_id', 'result.effect_key', 'result.undo_id', 'result.outcome', 'result.reason', 'result.error_code', 'result.error_message', 'result.created_at'])
    .where('undo.job_id', 'in', undoJobIds)
    .where((eb) => eb(eb.refTuple('result.job_id', 'result.effect_key'), 'in', open.map((row) => eb.tuple(row.job_id, row.key))))
    .orderBy('undo.created_at', 'desc')
    .orderBy('result.created_at', 'desc')
    .execute();
  const latest = new Map<string, UndoLine>();
  for (const line of lines) if (!latest.has(lineKey(line.job_id, line.effect_key))) latest.set(lineKey(line.job_id, line.effect_key), line);
  return latest;
}

function toJobEffect(row: EffectRow, line: UndoLine | undefined): JobEffect {
  const detail = handlerEffectDetailSchema.safeParse(row.detail);
  const base = { jobId: row.job_id, key: row.key, kind: row.kind, at: row.created_at, undo: undoState(row, line) };
  if (!detail.success) return { ...base, step: null, handler: null, ref: row.key.slice(handlerEffectPrefix.length), url: null, reversible: false };
  const { step, handler, ref, reversible, undo } = detail.data;
  return { ...base, step, handler, ref, url: recordedUrl(undo), reversible };
}

function undoState(row: EffectRow, line: UndoLine | undefined): JobEffectUndoState {
  if (row.reverted_by !== null) return { status: 'undone', undoId: row.reverted_by, at: row.reverted_at ?? row.created_at };
  if (line === undefined || line.outcome === 'reverted') return { status: 'not_undone' };
  if (line.outcome === 'skipped') return { status: 'skipped', undoId: line.undo_id, reason: line.reason ?? 'unknown', message: line.error_message, at: line.created_at };
  return { status: 'failed', undoId: line.undo_id, error: { code: line.error_code ?? 'unknown', message: line.error_message ?? '' }, at: line.created_at };
}

/**
 * The address a handler recorded with an effect: a post's `link`, else a
 * delivery's `url`; only http(s), so the console can link it as it is.
 */
function recordedUrl(undo: Readonly<Record<string, unknown>>): string | null {
  for (const candidate of [undo.link, undo.url]) {
    if (typeof candidate === 'string' && /^https?:\/\//i.test(candidate)) return candidate;
  }
  return null;
}
