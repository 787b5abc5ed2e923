import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { deleteFlowFile, listFlowFiles, uploadFlowFile, type DataMachineContext, type FlowFile } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { flowParams } from './flow-routes';
import { parseRawBodies, rawBody } from './raw-body';
import { bearer, bodyErrors, instant, instantSchema, scopedErrors } from './schemas';

/** A file of a flow as the API shows it: never its content. */
const fileSchema = z.object({
  id: z.string(),
  flowId: z.string(),
  name: z.string(),
  contentType: z.string(),
  size: z.int(),
  sha256: z.string(),
  createdAt: instantSchema,
});

function fileBody(file: FlowFile): z.output<typeof fileSchema> {
  return { ...file, createdAt: instant(file.createdAt) };
}

const fileParams = flowParams.extend({ file: z.string().min(1).max(200) });
const uploadQuery = z.strictObject({ name: z.string().min(1).max(255).describe('The file name (no path)') });

/**
 * Files uploaded to a flow, for its `files` fetch: upload (the raw body,
 * its `Content-Type` the file's), list and delete. Upload and delete need
 * `queue.add` (operators), the list `agent.read`. The upload route reads
 * its body raw, in a scope of its own, capped at `maxBytes`.
 */
export async function registerFileRoutes(app: FastifyInstance, context: DataMachineContext, maxBytes: number): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/agents/:agent/flows/:flow/files',
    { schema: { tags: ['flows'], security: bearer, summary: "The flow's uploaded files, oldest first (no content)", params: flowParams, response: { 200: z.object({ files: z.array(fileSchema) }), ...scopedErrors } } },
    async (request) => ({ files: (await listFlowFiles(context, await requestScope(context, request), request.params.agent, request.params.flow)).map(fileBody) }),
  );

  routes.delete(
    '/agents/:agent/flows/:flow/files/:file',
    { schema: { tags: ['flows'], security: bearer, summary: 'Delete a file of the flow (404 `file.not_found` when it has none such)', params: fileParams, response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      await deleteFlowFile(context, await requestScope(context, request), request.params.agent, request.params.flow, request.params.file);
      return reply.code(204).send(null);
    },
  );

  await app.register(async (scope) => {
    parseRawBodies(scope, maxBytes);
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/agents/:agent/flows/:flow/files',
      {
        bodyLimit: maxBytes,
        schema: {
          tags: ['flows'],
          security: bearer,
          summary: "Upload a file to the flow: the raw body, typed by its Content-Type; the flow's `files` fetch yields it once",
          params: flowParams,
          querystring: uploadQuery,
          response: { 201: fileSchema, ...bodyErrors },
        },
      },
      async (request, reply) => {
        const contentType = request.headers['content-type'] ?? 'application/octet-stream';
        const file = await uploadFlowFile(context, await requestScope(context, request), request.params.agent, request.params.flow, { name: request.query.name, contentType }, rawBody(request), { maxBytes });
        return reply.code(201).send(fileBody(file));
      },
    );
  });
}
