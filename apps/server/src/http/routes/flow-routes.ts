import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  addToQueue,
  clearQueue,
  configPatchBodySchema,
  createFlow,
  deleteFlow,
  flowPatchSchema,
  flowStepConfigsSchema,
  getFlow,
  listFlows,
  listQueue,
  moveQueueEntry,
  newFlowSchema,
  pauseFlow,
  promptBodySchema,
  queueNameSchema,
  resumeFlow,
  scheduleSchema,
  setQueueOrder,
  updateFlow,
  type DataMachineContext,
  type Flow,
  type HandlerRegistry,
  type QueueEntry,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { agentParams } from './agent-routes';
import { bearer, bodyErrors, instant, instantSchema, scopedErrors } from './schemas';

/** A flow as the API shows it. */
export const flowSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  pipelineId: z.string(),
  slug: z.string(),
  name: z.string(),
  stepConfig: flowStepConfigsSchema,
  schedule: scheduleSchema,
  paused: z.boolean(),
  maxItems: z.int(),
  concurrency: z.int(),
  nextRunAt: instantSchema.nullable(),
  createdBy: z.string().nullable(),
  createdAt: instantSchema,
  updatedAt: instantSchema,
});

/** A flow as the API shows it. */
export function flowBody(flow: Flow): z.output<typeof flowSchema> {
  return { ...flow, createdAt: instant(flow.createdAt), updatedAt: instant(flow.updatedAt), nextRunAt: instant(flow.nextRunAt) };
}

const entryFields = {
  id: z.string(),
  flowId: z.string(),
  stepKey: z.string(),
  position: z.number(),
  leasedByJobId: z.string().nullable(),
  leasedAt: instantSchema.nullable(),
  createdBy: z.string().nullable(),
  createdAt: instantSchema,
};
/** A queue entry: a prompt (a string) or a config patch (an object). */
const queueEntrySchema = z.discriminatedUnion('queue', [
  z.object({ ...entryFields, queue: z.literal('prompt'), body: z.string() }),
  z.object({ ...entryFields, queue: z.literal('config_patch'), body: z.record(z.string(), z.unknown()) }),
]);

function entryBody(entry: QueueEntry): z.output<typeof queueEntrySchema> {
  return { ...entry, leasedAt: instant(entry.leasedAt), createdAt: instant(entry.createdAt) };
}

/** Names a flow of an agent by id or slug. */
export const flowParams = agentParams.extend({ flow: z.string().min(1).max(200) });
/** Names one queue of a flow's step. */
const queueParams = flowParams.extend({ stepKey: z.string().min(1).max(64), queue: queueNameSchema });

// The step configuration is checked for shape here (400 with
// `body.stepConfig.fetch.handlerConfig`) and against the pipeline's steps and
// handlers by the product (`flow.invalid_config`).
const newFlowBody = newFlowSchema.extend({ stepConfig: flowStepConfigsSchema.optional() });
const flowPatchBody = flowPatchSchema.extend({ stepConfig: flowStepConfigsSchema.optional() });
const entriesResponse = z.object({ entries: z.array(queueEntrySchema) });

/** An agent's flows, their pause switch and schedule, and their steps' prompt and config-patch queues. */
export function registerFlowRoutes(app: FastifyInstance, context: DataMachineContext, handlers: HandlerRegistry): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['flows'];

  routes.get(
    '/agents/:agent/flows',
    {
      schema: {
        tags,
        security: bearer,
        summary: "The agent's flows, by slug; only one pipeline's when `pipeline` is given",
        params: agentParams,
        querystring: z.strictObject({ pipeline: z.string().min(1).max(200).optional() }),
        response: { 200: z.object({ flows: z.array(flowSchema) }), ...scopedErrors },
      },
    },
    async (request) => {
      const pipeline = request.query.pipeline;
      const flows = await listFlows(context, await requestScope(context, request), request.params.agent, pipeline === undefined ? {} : { pipeline });
      return { flows: flows.map(flowBody) };
    },
  );

  routes.post(
    '/agents/:agent/flows',
    { schema: { tags, security: bearer, summary: 'Create a flow of a pipeline', params: agentParams, body: newFlowBody, response: { 201: flowSchema, ...bodyErrors } } },
    async (request, reply) => {
      const flow = await createFlow(context, await requestScope(context, request), handlers, request.params.agent, request.body);
      return reply.code(201).send(flowBody(flow));
    },
  );

  routes.get('/agents/:agent/flows/:flow', { schema: { tags, security: bearer, summary: 'One flow', params: flowParams, response: { 200: flowSchema, ...scopedErrors } } }, async (request) =>
    flowBody(await getFlow(context, await requestScope(context, request), request.params.agent, request.params.flow)),
  );

  routes.patch(
    '/agents/:agent/flows/:flow',
    { schema: { tags, security: bearer, summary: "Change a flow's slug, name, step configuration, schedule or limits", params: flowParams, body: flowPatchBody, response: { 200: flowSchema, ...bodyErrors } } },
    async (request) => flowBody(await updateFlow(context, await requestScope(context, request), handlers, request.params.agent, request.params.flow, request.body)),
  );

  routes.delete('/agents/:agent/flows/:flow', { schema: { tags, security: bearer, summary: 'Delete a flow with its queues and jobs', params: flowParams, response: { 204: z.null(), ...scopedErrors } } }, async (request, reply) => {
    await deleteFlow(context, await requestScope(context, request), request.params.agent, request.params.flow);
    return reply.code(204).send(null);
  });

  routes.put(
    '/agents/:agent/flows/:flow/schedule',
    { schema: { tags, security: bearer, summary: "Replace a flow's schedule", params: flowParams, body: scheduleSchema, response: { 200: flowSchema, ...bodyErrors } } },
    async (request) => flowBody(await updateFlow(context, await requestScope(context, request), handlers, request.params.agent, request.params.flow, { schedule: request.body })),
  );

  for (const [action, change] of [
    ['pause', pauseFlow],
    ['resume', resumeFlow],
  ] as const) {
    routes.post(
      `/agents/:agent/flows/:flow/${action}`,
      { schema: { tags, security: bearer, summary: action === 'pause' ? 'Pause a flow: the scheduler starts no run of it' : 'Resume a paused flow', params: flowParams, response: { 200: flowSchema, ...scopedErrors } } },
      async (request) => flowBody(await change(context, await requestScope(context, request), request.params.agent, request.params.flow)),
    );
  }

  const queueTags = ['queues'];
  const queuePath = '/agents/:agent/flows/:flow/steps/:stepKey/queues/:queue';
  const address = (params: z.output<typeof queueParams>) => ({ flow: params.flow, stepKey: params.stepKey, queue: params.queue });

  routes.get(queuePath, { schema: { tags: queueTags, security: bearer, summary: "A step's queue, head first", params: queueParams, response: { 200: entriesResponse, ...scopedErrors } } }, async (request) => {
    const entries = await listQueue(context, await requestScope(context, request), request.params.agent, address(request.params));
    return { entries: entries.map(entryBody) };
  });

  routes.post(
    queuePath,
    {
      schema: {
        tags: queueTags,
        security: bearer,
        summary: 'Add an entry at the tail: a prompt (a string) to a prompt queue, a config patch (an object) to a config-patch queue',
        params: queueParams,
        body: z.strictObject({ body: z.union([promptBodySchema, configPatchBodySchema]) }),
        response: { 201: queueEntrySchema, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const entry = await addToQueue(context, await requestScope(context, request), request.params.agent, address(request.params), request.body.body);
      return reply.code(201).send(entryBody(entry));
    },
  );

  routes.put(
    `${queuePath}/order`,
    {
      schema: {
        tags: queueTags,
        security: bearer,
        summary: 'Reorder the queue: name every entry once, head first',
        params: queueParams,
        body: z.strictObject({ entryIds: z.array(z.string().min(1).max(200)).max(10_000) }),
        response: { 200: entriesResponse, ...bodyErrors },
      },
    },
    async (request) => {
      const entries = await setQueueOrder(context, await requestScope(context, request), request.params.agent, address(request.params), request.body.entryIds);
      return { entries: entries.map(entryBody) };
    },
  );

  routes.post(
    `${queuePath}/entries/:entry/move`,
    {
      schema: {
        tags: queueTags,
        security: bearer,
        summary: 'Move one entry to `index` (0 is the head; past the tail is the tail)',
        params: queueParams.extend({ entry: z.string().min(1).max(200) }),
        body: z.strictObject({ index: z.int().min(0) }),
        response: { 200: entriesResponse, ...bodyErrors },
      },
    },
    async (request) => {
      const entries = await moveQueueEntry(context, await requestScope(context, request), request.params.agent, address(request.params), request.params.entry, request.body.index);
      return { entries: entries.map(entryBody) };
    },
  );

  routes.delete(
    queuePath,
    { schema: { tags: queueTags, security: bearer, summary: 'Remove every entry of the queue', params: queueParams, response: { 200: z.object({ cleared: z.int() }), ...scopedErrors } } },
    async (request) => ({ cleared: await clearQueue(context, await requestScope(context, request), request.params.agent, address(request.params)) }),
  );
}
