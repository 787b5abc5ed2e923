import { memoryPathSchema } from '@data-machine/agents-api';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  agentMemoryLayerSchema,
  deleteAgentMemoryFile,
  listAgentMemoryFiles,
  readAgentMemoryFile,
  writeAgentMemoryFile,
  type AgentMemoryFileSummary,
  type DataMachineContext,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { HttpError } from '../http-error';
import { agentParams } from './agent-routes';
import { bearer, bodyErrors, errorBodySchema, instant, instantSchema, scopedErrors } from './schemas';

const fileSummarySchema = z.object({ layer: agentMemoryLayerSchema, path: z.string(), bytes: z.number().int(), contentHash: z.string(), updatedAt: instantSchema });
const fileSchema = fileSummarySchema.extend({ content: z.string() });
const writtenSchema = fileSummarySchema.extend({ created: z.boolean() });

// The path is one URL segment: a path with folders has its "/" percent-encoded (`notes%2Fideas.md`).
const fileParams = agentParams.extend({ path: memoryPathSchema });
const fileQuery = z.strictObject({ layer: agentMemoryLayerSchema.default('agent') });
const etagPattern = /^(?:W\/)?"?([0-9a-f]{64})"?$/;
const ifMatchHeader = z.string().regex(etagPattern, 'If-Match is a content hash as the ETag gave it ("<64 lowercase hex digits>")');
const conditionHeaders = z.object({ 'if-match': ifMatchHeader.optional(), 'if-none-match': z.literal('*').optional() });

const summaryBody = (file: AgentMemoryFileSummary): z.output<typeof fileSummarySchema> => ({
  layer: file.layer,
  path: file.path,
  bytes: file.bytes,
  contentHash: file.contentHash,
  updatedAt: instant(file.updatedAt),
});
const etag = (hash: string) => `"${hash}"`;
const hashOf = (header: string): string => etagPattern.exec(header)?.[1] ?? header;

/**
 * An agent's shared memory files (`/agents/{agent}/memory`): layers `agent`
 * (SOUL.md, MEMORY.md, ...) and `site`, read by anyone who sees the agent,
 * written by its admins. A save names the version it replaces (`If-Match`
 * with the ETag read) or asks to create (`If-None-Match: *`); one that names
 * neither is 428 `memory.precondition_required`, and one whose version is no
 * longer current is 409 `memory.conflict` with the current hash in
 * `details.actual`.
 */
export function registerMemoryRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['memory'];

  routes.get(
    '/agents/:agent/memory',
    { schema: { tags, security: bearer, summary: "The agent's shared memory files (layers agent and site), without their content", params: agentParams, response: { 200: z.object({ files: z.array(fileSummarySchema) }), ...scopedErrors } } },
    async (request) => ({ files: (await listAgentMemoryFiles(context, await requestScope(context, request), request.params.agent)).map(summaryBody) }),
  );

  routes.get(
    '/agents/:agent/memory/:path',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'One memory file with its content; its hash is also the ETag a save sends back as If-Match',
        params: fileParams,
        querystring: fileQuery,
        response: { 200: fileSchema, ...scopedErrors },
      },
    },
    async (request, reply) => {
      const file = await readAgentMemoryFile(context, await requestScope(context, request), request.params.agent, { layer: request.query.layer, path: request.params.path });
      void reply.header('etag', etag(file.contentHash));
      return { ...summaryBody(file), content: file.content };
    },
  );

  routes.put(
    '/agents/:agent/memory/:path',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Save a memory file: If-Match "<hash>" replaces that version, If-None-Match * creates; 409 memory.conflict when someone else saved first',
        params: fileParams,
        querystring: fileQuery,
        headers: conditionHeaders,
        body: z.object({ content: z.string() }).strict(),
        response: { 200: writtenSchema, 201: writtenSchema, ...bodyErrors, 428: errorBodySchema },
      },
    },
    async (request, reply) => {
      const scope = await requestScope(context, request);
      const ifMatch = writeCondition(request.headers);
      const written = await writeAgentMemoryFile(context, scope, request.params.agent, {
        layer: request.query.layer,
        path: request.params.path,
        content: request.body.content,
        ifMatch,
      });
      return reply
        .code(written.created ? 201 : 200)
        .header('etag', etag(written.contentHash))
        .send({ ...summaryBody(written), created: written.created });
    },
  );

  routes.delete(
    '/agents/:agent/memory/:path',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Delete a memory file; with If-Match only that version (409 memory.conflict otherwise)',
        params: fileParams,
        querystring: fileQuery,
        headers: z.object({ 'if-match': ifMatchHeader.optional() }),
        response: { 204: z.null(), ...scopedErrors },
      },
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      await deleteAgentMemoryFile(context, await requestScope(context, request), request.params.agent, {
        layer: request.query.layer,
        path: request.params.path,
        ...(ifMatch === undefined ? {} : { ifMatch: hashOf(ifMatch) }),
      });
      return reply.code(204).send(null);
    },
  );
}

/** The version a save replaces: a hash, null to create, or a 428 when the request names neither (or both). */
function writeCondition(headers: { readonly 'if-match'?: string | undefined; readonly 'if-none-match'?: string | undefined }): string | null {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch === undefined) return hashOf(ifMatch);
  if (ifMatch === undefined && ifNoneMatch !== undefined) return null;
  throw new HttpError(
    'memory.precondition_required',
    'A save names the version it replaces: If-Match with the ETag you read, or If-None-Match: * to create a file that does not exist yet.',
  );
}
