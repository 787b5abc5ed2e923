import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { DataMachineError, getUndoReport, listUndos, requestUndo, revertSkipReasons, undoOutcomes, undoStatuses, type DataMachineContext, type JobEngine, type Undo, type UndoEffectResult } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { jobParams } from './job-routes';
import { bearer, errorBodySchema, instant, instantSchema, scopedErrors } from './schemas';

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
const undoParams = jobParams.extend({ undo: z.string().min(1).max(200) });

/** An undo as the API shows it. */
export function undoBody(undo: Undo): z.output<typeof undoSchema> {
  return { ...undo, createdAt: instant(undo.createdAt), startedAt: instant(undo.startedAt), finishedAt: instant(undo.finishedAt) };
}

function effectResultBody(result: UndoEffectResult): z.output<typeof effectResultSchema> {
  return { ...result, at: instant(result.at) };
}

/**
 * Undo of a job's published effects (`job.undo`, operators and above): the
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
