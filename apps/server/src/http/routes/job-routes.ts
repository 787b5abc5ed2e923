import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { cancelJob, getJob, jobStatuses, listJobChildren, listJobLogs, listJobs, logLevels, type DataMachineContext, type Job, type JobLogLine } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { agentParams } from './agent-routes';
import { bearer, instant, instantSchema, pageQuery, scopedErrors } from './schemas';

/** A job as the API shows it. */
export const jobSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  flowId: z.string(),
  pipelineId: z.string(),
  parentJobId: z.string().nullable(),
  source: z.string(),
  status: z.enum(jobStatuses),
  statusReason: z.string().nullable(),
  currentStep: z.string().nullable(),
  engineData: z.record(z.string(), z.unknown()),
  itemKey: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  attempts: z.int(),
  engineJobId: z.string().nullable(),
  children: z.object({ total: z.int(), ended: z.int(), failed: z.int() }),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  createdBy: z.string().nullable(),
  createdAt: instantSchema,
  startedAt: instantSchema.nullable(),
  finishedAt: instantSchema.nullable(),
});

const logLineSchema = z.object({
  id: z.string(),
  agentId: z.string(),
  jobId: z.string().nullable(),
  level: z.enum(logLevels),
  message: z.string(),
  context: z.record(z.string(), z.unknown()),
  createdAt: instantSchema,
});

/** A job as the API shows it. */
export function jobBody(job: Job): z.output<typeof jobSchema> {
  return { ...job, createdAt: instant(job.createdAt), startedAt: instant(job.startedAt), finishedAt: instant(job.finishedAt) };
}
function logLineBody(line: JobLogLine): z.output<typeof logLineSchema> {
  return { ...line, createdAt: instant(line.createdAt) };
}

export const jobParams = agentParams.extend({ job: z.string().min(1).max(200) });
const jobPage = z.object({ jobs: z.array(jobSchema), nextCursor: z.string().nullable() });
const jobListQuery = pageQuery.extend({
  flow: z.string().min(1).max(200).optional(),
  status: z.enum(jobStatuses).optional(),
  createdSince: instantSchema.optional().describe('only jobs created at or after this instant'),
  createdBefore: instantSchema.optional().describe('only jobs created before this instant'),
});

/**
 * An agent's jobs (newest first, cursor-paginated, filtered by flow, status
 * and creation time), one job, its fan-out children, its log, and cancel.
 * Retry and run-now come with the job engine.
 */
export function registerJobRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['jobs'];

  routes.get(
    '/agents/:agent/jobs',
    { schema: { tags, security: bearer, summary: "The agent's jobs, newest first, a page at a time", params: agentParams, querystring: jobListQuery, response: { 200: jobPage, ...scopedErrors } } },
    async (request) => {
      const { createdSince, createdBefore, ...rest } = request.query;
      const page = await listJobs(context, await requestScope(context, request), request.params.agent, {
        ...rest,
        ...(createdSince === undefined ? {} : { createdSince: new Date(createdSince) }),
        ...(createdBefore === undefined ? {} : { createdBefore: new Date(createdBefore) }),
      });
      return { jobs: page.items.map(jobBody), nextCursor: page.nextCursor };
    },
  );

  routes.get('/agents/:agent/jobs/:job', { schema: { tags, security: bearer, summary: 'One job, with its children counts', params: jobParams, response: { 200: jobSchema, ...scopedErrors } } }, async (request) =>
    jobBody(await getJob(context, await requestScope(context, request), request.params.agent, request.params.job)),
  );

  routes.get(
    '/agents/:agent/jobs/:job/children',
    { schema: { tags, security: bearer, summary: "A job's fan-out children, in creation order", params: jobParams, querystring: pageQuery, response: { 200: jobPage, ...scopedErrors } } },
    async (request) => {
      const page = await listJobChildren(context, await requestScope(context, request), request.params.agent, request.params.job, request.query);
      return { jobs: page.items.map(jobBody), nextCursor: page.nextCursor };
    },
  );

  routes.get(
    '/agents/:agent/jobs/:job/logs',
    {
      schema: {
        tags,
        security: bearer,
        summary: "A job's log lines, oldest first",
        params: jobParams,
        querystring: pageQuery,
        response: { 200: z.object({ lines: z.array(logLineSchema), nextCursor: z.string().nullable() }), ...scopedErrors },
      },
    },
    async (request) => {
      const page = await listJobLogs(context, await requestScope(context, request), request.params.agent, request.params.job, request.query);
      return { lines: page.items.map(logLineBody), nextCursor: page.nextCursor };
    },
  );

  routes.post(
    '/agents/:agent/jobs/:job/cancel',
    { schema: { tags, security: bearer, summary: 'Cancel a job that has not ended, with its live children (409 `job.ended` otherwise)', params: jobParams, response: { 200: jobSchema, ...scopedErrors } } },
    async (request) => jobBody(await cancelJob(context, await requestScope(context, request), request.params.agent, request.params.job)),
  );
}
