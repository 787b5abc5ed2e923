import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  approvalResolutionSchema,
  DataMachineError,
  getPendingAction,
  issueApprovalLinks,
  listPendingActions,
  pendingActionStatuses,
  previewApprovalLink,
  resolveByApprovalLink,
  resolvePendingAction,
  signalJob,
  type DataMachineContext,
  type JobEngine,
  type PendingAction,
  type ReleaseJob,
} from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { bearer, bodyErrors, errorBodySchema, instant, instantSchema, pageQuery, scopedErrors } from './schemas';

/** A pending action as the API shows it: the exact call accepting applies (`toolName`, `input`) and what the approver sees. */
export const approvalSchema = z.object({
  id: z.string(),
  agentId: z.string(),
  /** The job whose `ai` step held it; null for a chat turn's. */
  jobId: z.string().nullable(),
  stepKey: z.string().nullable(),
  /** The chat session whose turn held it; null for a job's. */
  sessionId: z.string().nullable(),
  toolCallId: z.string(),
  kind: z.string(),
  summary: z.string(),
  preview: z.unknown(),
  toolName: z.string(),
  input: z.unknown(),
  triggeredBy: z.string().nullable(),
  status: z.enum(pendingActionStatuses),
  expiresAt: instantSchema,
  decidedBy: z.string().nullable(),
  decidedVia: z.enum(['api', 'link', 'expiry']).nullable(),
  decidedAt: instantSchema.nullable(),
  reason: z.string().nullable(),
  result: z.unknown(),
  createdAt: instantSchema,
});

/** A pending action as the API shows it. */
export function approvalBody(action: PendingAction): z.output<typeof approvalSchema> {
  return { ...action, expiresAt: instant(action.expiresAt), decidedAt: instant(action.decidedAt), createdAt: instant(action.createdAt) };
}

const approvalParams = z.object({ approval: z.string().min(1).max(200) });
const listQuery = pageQuery.extend({
  agent: z.string().min(1).max(200).optional(),
  status: z.enum(pendingActionStatuses).optional(),
  session: z.string().min(1).max(200).optional().describe('only the actions a chat session held'),
});
const linkToken = z.string().min(1).max(2_000).describe('the signed token of an approval link');
const linkPreviewSchema = z.object({ approval: approvalSchema, decision: z.enum(['accept', 'reject']), linkExpiresAt: instantSchema });
const linksSchema = z.object({ accept: z.string(), reject: z.string(), expiresAt: instantSchema });
const linkErrors = { 400: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema, 410: errorBodySchema, 429: errorBodySchema } as const;

/** What the approval routes need besides the product context. */
export interface ApprovalRouteOptions {
  /** The engine decisions release waiting jobs on; without one a decision is 503 `engine.unavailable`. */
  readonly engine: JobEngine | undefined;
  /** The server secret links are signed with; without one there are no link routes. */
  readonly secretKey: string | undefined;
}

/**
 * Pending actions: list (viewers and above), read, accept and reject
 * (operators and above), and signed links. A link's `GET` only shows what
 * it will do (mail scanners prefetch links); its `POST` decides, once.
 */
export function registerApprovalRoutes(app: FastifyInstance, context: DataMachineContext, options: ApprovalRouteOptions): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['approvals'];
  const release: ReleaseJob = async (trx, { jobId, signal, payload }) => {
    if (options.engine === undefined) throw new DataMachineError('engine.unavailable', 'This server runs no job engine; nothing was decided.');
    await signalJob(context, options.engine, trx, { jobId, signal, payload });
  };
  const decisionSchema = { tags, security: bearer, params: approvalParams, body: approvalResolutionSchema.nullish(), response: { 200: approvalSchema, ...bodyErrors, 410: errorBodySchema, 503: errorBodySchema } };

  routes.get(
    '/approvals',
    { schema: { tags, security: bearer, summary: 'Pending actions of the agents the caller may read, newest first, by agent, status and chat session', querystring: listQuery, response: { 200: z.object({ approvals: z.array(approvalSchema), nextCursor: z.string().nullable() }), ...scopedErrors } } },
    async (request) => {
      const page = await listPendingActions(context, await requestScope(context, request), request.query);
      return { approvals: page.items.map(approvalBody), nextCursor: page.nextCursor };
    },
  );

  routes.get('/approvals/:approval', { schema: { tags, security: bearer, summary: 'One pending action: what accepting it would run', params: approvalParams, response: { 200: approvalSchema, ...scopedErrors } } }, async (request) =>
    approvalBody(await getPendingAction(context, await requestScope(context, request), request.params.approval)),
  );

  routes.post(
    '/approvals/:approval/accept',
    { schema: { ...decisionSchema, summary: 'Accept: the stored call runs exactly as shown and the job resumes (409 `approval.already_resolved` if decided)' } },
    async (request) => approvalBody(await resolvePendingAction(context, release, await requestScope(context, request), request.params.approval, 'accept', request.body ?? {})),
  );

  routes.post(
    '/approvals/:approval/reject',
    { schema: { ...decisionSchema, summary: 'Reject, with an optional reason the agent is told; the job resumes without the call' } },
    async (request) => approvalBody(await resolvePendingAction(context, release, await requestScope(context, request), request.params.approval, 'reject', request.body ?? {})),
  );

  const { secretKey } = options;
  if (secretKey === undefined) return;

  routes.post(
    '/approvals/:approval/links',
    { schema: { tags, security: bearer, summary: 'Signed accept and reject links for a pending action, to forward to whoever decides', params: approvalParams, response: { 200: linksSchema, ...scopedErrors } } },
    async (request) => {
      const links = await issueApprovalLinks(context, await requestScope(context, request), secretKey, request.params.approval);
      return { accept: links.accept, reject: links.reject, expiresAt: instant(links.expiresAt) };
    },
  );

  routes.get(
    '/approval-links',
    { schema: { tags, summary: 'What a signed link will do; never decides (no authentication: the link is the authority)', querystring: z.strictObject({ token: linkToken }), response: { 200: linkPreviewSchema, ...linkErrors } } },
    async (request) => {
      const preview = await previewApprovalLink(context, secretKey, request.query.token);
      return { approval: approvalBody(preview.action), decision: preview.decision, linkExpiresAt: instant(preview.linkExpiresAt) };
    },
  );

  routes.post(
    '/approval-links',
    {
      // A decision writes the action and releases its job, never access: it leaves the access cache as it is.
      config: { accessUnchanged: true },
      schema: {
        tags,
        summary: "Take a signed link's decision, once (no authentication: the link is the authority)",
        body: approvalResolutionSchema.extend({ token: linkToken }),
        response: { 200: approvalSchema, ...linkErrors, 413: errorBodySchema, 503: errorBodySchema },
      },
    },
    async (request) => {
      const { token, ...resolution } = request.body;
      return approvalBody(await resolveByApprovalLink(context, release, secretKey, token, resolution));
    },
  );
}
