import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  DataMachineError,
  getUndoReport,
  listJobEffects,
  listUndos,
  requestUndo,
  revertSkipReasons,
  undoOutcomes,
  undoStatuses,
  type DataMachineContext,
  type JobEffect,
  type JobEngine,
  type Undo,
  type UndoEffectResult,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { jobParams } from './job-routes';
import { bearer, errorBodySchema, instant, instantSchema, pageQuery, scopedErrors } from './schemas';

const errorSchema = z.object({ code: z.string(), message: z.string() });

/** An undo of a job as the API shows it. */
export const undoSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  jobId: z.string().describe('the job undone, with its fan-out children'),
  status: z.enum(undoStatuses),
  statusReason: z.string().nullable().describe('`effects_failed:<n>` when some effect failed; `undo_failed` when the undo could not run'),
  attempts: z.int(),
  counts: z.object({ reverted: z.int(), skipped: z.int(), failed: z.int() }),
  error: errorSchema.nullable(),
  requestedBy: z.string().nullable(),
  createdAt: instantSchema,
  startedAt: instantSchema.nullable(),
  finishedAt: instantSchema.nullable(),
});

const effectResultSchema = z.object({
  jobId: z.string().describe('the job that recorded the effect'),
  effectKey: z.string(),
  position: z.int().describe('1 is the newest effect, reversed first'),
  handler: z.string().nullable(),
  kind: z.string().describe('wordpress_post_created, wordpress_post_updated, wordpress_term_created, wordpress_media_uploaded, webhook_delivered, ...'),
  outcome: z.enum(undoOutcomes),
  reason: z.string().nullable().describe(`why it was skipped: ${revertSkipReasons.join(', ')}`),
  error: errorSchema.nullable(),
  at: instantSchema,
});

const undoReportSchema = z.object({ undo: undoSchema, effects: z.array(effectResultSchema) });

const effectUndoStateSchema = z
  .discriminatedUnion('status', [
    z.object({ status: z.literal('not_undone') }),
    z.object({ status: z.literal('undone'), undoId: z.string(), at: instantSchema }),
    z.object({ status: z.literal('skipped'), undoId: z.string(), reason: z.string().describe(revertSkipReasons.join(', ')), message: z.string().nullable(), at: instantSchema }),
    z.object({ status: z.literal('failed'), undoId: z.string(), error: errorSchema, at: instantSchema }),
  ])
  .describe('where the effect stands with undo: never undone, reverted, or as the latest undo that reached it left it');

/** An effect of a job as the API shows it. */
const jobEffectSchema = z.object({
  jobId: z.string().describe('the job that recorded it: this job or one of its fan-out children'),
  key: z.string(),
  step: z.string().nullable(),
  handler: z.string().nullable(),
  kind: z.string().describe('wordpress_post_created, wordpress_post_updated, wordpress_term_created, wordpress_media_uploaded, webhook_delivered, ...'),
  ref: z.string().describe('the remote object within the step, as the handler named it: `post:12`, `delivery:<key>`'),
  url: z.string().nullable().describe('an http(s) address of the remote object or delivery, when the handler recorded one'),
  reversible: z.boolean(),
  at: instantSchema,
  undo: effectUndoStateSchema,
});
const undoParams = jobParams.extend({ undo: z.string().min(1).max(200) });

/** An undo as the API shows it. */
export function undoBody(undo: Undo): z.output<typeof undoSchema> {
  return { ...undo, createdAt: instant(undo.createdAt), startedAt: instant(undo.startedAt), finishedAt: instant(undo.finishedAt) };
}

function effectResultBody(result: UndoEffectResult): z.output<typeof effectResultSchema> {
  return { ...result, at: instant(result.at) };
}

function jobEffectBody(effect: JobEffect): z.output<typeof jobEffectSchema> {
  return { ...effect, at: instant(effect.at), undo: effect.undo.status === 'not_undone' ? effect.undo : { ...effect.undo, at: instant(effect.undo.at) } };
}

/**
 * A job's effects (`logs.read`, as reading the job) and their undo
 * (`job.undo`, operators and above): the
 * request answers 202 with the pending undo, which a worker runs on the job
 * engine; its report is read afterwards (`logs.read`). 409 `undo.job_live`
 * for a job that has not ended, `undo.in_progress` while another undo of it
 * runs; without an engine 503 `engine.unavailable`.
 */
export function registerUndoRoutes(app: FastifyInstance, context: DataMachineContext, engine: JobEngine | undefined): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['jobs'];

  routes.post(
    '/agents/:agent/jobs/:job/undo',
    {
      schema: {
        tags,
        security: bearer,
        summary: "Undo a job's effects (and its children's), newest first; 202 with the pending undo, whose report is read at /undos/{undo}",
        params: jobParams,
        response: { 202: undoSchema, ...scopedErrors, 503: errorBodySchema },
      },
    },
    async (request, reply) => {
      if (engine === undefined) throw new DataMachineError('engine.unavailable', 'This server runs no job engine; nothing was started.');
      const undo = await requestUndo(context, engine, await requestScope(context, request), request.params.agent, request.params.job);
      return reply.code(202).send(undoBody(undo));
    },
  );

  routes.get(
    '/agents/:agent/jobs/:job/effects',
    {
      schema: {
        tags,
        security: bearer,
        summary: "What a job's handlers (and its fan-out children's) did on remote systems, oldest first, each with where it stands with undo",
        params: jobParams,
        querystring: pageQuery,
        response: { 200: z.object({ effects: z.array(jobEffectSchema), nextCursor: z.string().nullable() }), ...scopedErrors },
      },
    },
    async (request) => {
      const page = await listJobEffects(context, await requestScope(context, request), request.params.agent, request.params.job, request.query);
      return { effects: page.items.map(jobEffectBody), nextCursor: page.nextCursor };
    },
  );

  routes.get(
    '/agents/:agent/jobs/:job/undos',
    { schema: { tags, security: bearer, summary: 'The undos of a job, newest first', params: jobParams, response: { 200: z.object({ undos: z.array(undoSchema) }), ...scopedErrors } } },
    async (request) => ({ undos: (await listUndos(context, await requestScope(context, request), request.params.agent, request.params.job)).map(undoBody) }),
  );

  routes.get(
    '/agents/:agent/jobs/:job/undos/:undo',
    { schema: { tags, security: bearer, summary: 'One undo with what became of each effect, in the order they were reversed', params: undoParams, response: { 200: undoReportSchema, ...scopedErrors } } },
    async (request) => {
      const report = await getUndoReport(context, await requestScope(context, request), request.params.agent, request.params.job, request.params.undo);
      return { undo: undoBody(report.undo), effects: report.effects.map(effectResultBody) };
    },
  );
}
