import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  createPipeline,
  deletePipeline,
  exportPipeline,
  getPipeline,
  importConflictSchema,
  importPipeline,
  listPipelines,
  newPipelineSchema,
  pipelinePatchSchema,
  pipelineStepSchema,
  portablePipelineSchema,
  updatePipeline,
  type DataMachineContext,
  type HandlerRegistry,
  type Pipeline,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { agentParams } from './agent-routes';
import { flowBody, flowSchema } from './flow-routes';
import { bearer, bodyErrors, instant, instantSchema, scopedErrors } from './schemas';

/** A pipeline as the API shows it. */
export const pipelineSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  slug: z.string(),
  name: z.string(),
  steps: z.array(pipelineStepSchema),
  createdBy: z.string().nullable(),
  createdAt: instantSchema,
  updatedAt: instantSchema,
});

/** Names a pipeline of an agent by id or slug. */
const pipelineParams = agentParams.extend({ pipeline: z.string().min(1).max(200) });

// The steps are checked for shape here (400 with `body.steps.0.handler`), and
// against the host's handlers by the product (`pipeline.invalid_steps`).
const newPipelineBody = newPipelineSchema.extend({ steps: z.array(pipelineStepSchema) });
const pipelinePatchBody = pipelinePatchSchema.extend({ steps: z.array(pipelineStepSchema).optional() });

function pipelineBody(pipeline: Pipeline): z.output<typeof pipelineSchema> {
  return { ...pipeline, steps: [...pipeline.steps], createdAt: instant(pipeline.createdAt), updatedAt: instant(pipeline.updatedAt) };
}

/** An agent's pipelines: CRUD, and export/import as portable JSON. Steps are validated against `handlers`. */
export function registerPipelineRoutes(app: FastifyInstance, context: DataMachineContext, handlers: HandlerRegistry): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['pipelines'];

  routes.get(
    '/agents/:agent/pipelines',
    { schema: { tags, security: bearer, summary: "The agent's pipelines, by slug", params: agentParams, response: { 200: z.object({ pipelines: z.array(pipelineSchema) }), ...scopedErrors } } },
    async (request) => ({ pipelines: (await listPipelines(context, await requestScope(context, request), request.params.agent)).map(pipelineBody) }),
  );

  routes.post(
    '/agents/:agent/pipelines',
    { schema: { tags, security: bearer, summary: 'Create a pipeline', params: agentParams, body: newPipelineBody, response: { 201: pipelineSchema, ...bodyErrors } } },
    async (request, reply) => {
      const pipeline = await createPipeline(context, await requestScope(context, request), handlers, request.params.agent, request.body);
      return reply.code(201).send(pipelineBody(pipeline));
    },
  );

  routes.post(
    '/agents/:agent/pipelines/import',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Import a portable pipeline with its flows, in one transaction',
        description: 'A taken slug is 409 unless `onConflict=rename`, which takes the next free `slug-2`, `slug-3`...',
        params: agentParams,
        querystring: z.strictObject({ onConflict: importConflictSchema.optional() }),
        body: portablePipelineSchema,
        response: { 201: z.object({ pipeline: pipelineSchema, flows: z.array(flowSchema) }), ...bodyErrors },
      },
    },
    async (request, reply) => {
      const scope = await requestScope(context, request);
      const imported = await importPipeline(context, scope, handlers, request.params.agent, request.body, { onConflict: request.query.onConflict ?? 'fail' });
      return reply.code(201).send({ pipeline: pipelineBody(imported.pipeline), flows: imported.flows.map(flowBody) });
    },
  );

  routes.get(
    '/agents/:agent/pipelines/:pipeline',
    { schema: { tags, security: bearer, summary: 'One pipeline', params: pipelineParams, response: { 200: pipelineSchema, ...scopedErrors } } },
    async (request) => pipelineBody(await getPipeline(context, await requestScope(context, request), request.params.agent, request.params.pipeline)),
  );

  routes.patch(
    '/agents/:agent/pipelines/:pipeline',
    {
      schema: {
        tags,
        security: bearer,
        summary: "Change a pipeline's slug, name or steps",
        description: "New steps are checked against every flow of the pipeline: a flow they would break is 400 `flow.invalid_config`, and nothing changes.",
        params: pipelineParams,
        body: pipelinePatchBody,
        response: { 200: pipelineSchema, ...bodyErrors },
      },
    },
    async (request) => pipelineBody(await updatePipeline(context, await requestScope(context, request), handlers, request.params.agent, request.params.pipeline, request.body)),
  );

  routes.delete(
    '/agents/:agent/pipelines/:pipeline',
    { schema: { tags, security: bearer, summary: 'Delete a pipeline that has no flows (409 `pipeline.in_use` otherwise)', params: pipelineParams, response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      await deletePipeline(context, await requestScope(context, request), request.params.agent, request.params.pipeline);
      return reply.code(204).send(null);
    },
  );

  routes.get(
    '/agents/:agent/pipelines/:pipeline/export',
    { schema: { tags, security: bearer, summary: 'The pipeline and its flows as a portable document (slugs, no ids)', params: pipelineParams, response: { 200: portablePipelineSchema, ...scopedErrors } } },
    async (request) => exportPipeline(context, await requestScope(context, request), request.params.agent, request.params.pipeline),
  );
}
