import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { DataMachineError, retryJob, runFlowNow, type DataMachineContext, type JobEngine } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { flowParams } from './flow-routes';
import { jobBody, jobParams, jobSchema } from './job-routes';
import { bearer, errorBodySchema, scopedErrors } from './schemas';

const runHeaders = z.object({
  'idempotency-key': z.string().min(1).max(200).optional().describe('Repeat a run request safely: the same key on the same flow returns the first job'),
});

const accepted = { 202: jobSchema, ...scopedErrors, 503: errorBodySchema } as const;

/**
 * Run a flow now and retry a job (`flow.run`), on the job engine: each
 * answers 202 with the job it started (or the one an earlier request with the
 * same key started). Without an engine they answer 503 `engine.unavailable`.
 */
export function registerRunRoutes(app: FastifyInstance, context: DataMachineContext, engine: JobEngine | undefined): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const engineOrThrow = (): JobEngine => {
    if (engine === undefined) throw new DataMachineError('engine.unavailable', 'This server runs no job engine; nothing was started.');
    return engine;
  };

  routes.post(
    '/agents/:agent/flows/:flow/run',
    { schema: { tags: ['flows'], security: bearer, summary: 'Run a flow now; 202 with its job (the same Idempotency-Key returns the same job)', params: flowParams, headers: runHeaders, response: accepted } },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const { job } = await runFlowNow(context, engineOrThrow(), await requestScope(context, request), request.params.agent, request.params.flow, {
        source: 'api',
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      return reply.code(202).send(jobBody(job));
    },
  );

  routes.post(
    '/agents/:agent/jobs/:job/retry',
    { schema: { tags: ['jobs'], security: bearer, summary: 'Retry a failed or cancelled job as a new job (409 `job.not_retryable` otherwise); retrying it again returns that job', params: jobParams, response: accepted } },
    async (request, reply) => {
      const { job } = await retryJob(context, engineOrThrow(), await requestScope(context, request), request.params.agent, request.params.job);
      return reply.code(202).send(jobBody(job));
    },
  );
}
