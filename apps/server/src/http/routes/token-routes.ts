import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  createAgentToken,
  createUserToken,
  listAgentTokens,
  listUserTokens,
  revokeAgentToken,
  revokeUserToken,
  tenantCapabilitySchema,
  type AgentToken,
  type DataMachineContext,
  type UserToken,
} from 'data-machine';
import { z } from 'zod';
import { requestActor, requestScope } from '../authentication';
import { agentParams } from './agent-routes';
import { bearer, instant, instantSchema, scopedErrors } from './schemas';

const userTokenSchema = z.object({
  id: z.string(),
  userId: z.string(),
  prefix: z.string(),
  label: z.string(),
  expiresAt: instantSchema.nullable(),
  lastUsedAt: instantSchema.nullable(),
  revokedAt: instantSchema.nullable(),
  createdAt: instantSchema,
});
const agentTokenSchema = userTokenSchema.extend({ tenantId: z.string(), agentId: z.string(), ceiling: z.array(tenantCapabilitySchema) });

/** What creating a token takes over HTTP: the expiry is an ISO instant. */
const newTokenBody = z.object({ label: z.string().min(1).max(200), expiresAt: instantSchema.nullable().default(null) }).strict();
const newAgentTokenBody = newTokenBody.extend({ ceiling: z.array(tenantCapabilitySchema).min(1).max(16) }).strict();

function timestamps<T extends UserToken>(token: T): T & { expiresAt: string | null; lastUsedAt: string | null; revokedAt: string | null; createdAt: string } {
  return { ...token, expiresAt: instant(token.expiresAt), lastUsedAt: instant(token.lastUsedAt), revokedAt: instant(token.revokedAt), createdAt: instant(token.createdAt) };
}
const userTokenBody = (token: UserToken): z.output<typeof userTokenSchema> => timestamps(token);
const agentTokenBody = (token: AgentToken): z.output<typeof agentTokenSchema> => ({ ...timestamps(token), ceiling: [...token.ceiling] });
const expiry = (value: string | null): Date | null => (value === null ? null : new Date(value));

/**
 * Personal access tokens (`/me/tokens`: the caller's own) and agent tokens
 * (`/agents/{agent}/tokens`: an agent admin's). A secret is in the creation
 * response only, never again.
 */
export function registerTokenRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['tokens'];

  routes.get('/me/tokens', { schema: { tags, security: bearer, summary: 'Your personal access tokens', response: { 200: z.object({ tokens: z.array(userTokenSchema) }), ...scopedErrors } } }, async (request) => {
    const tokens = await listUserTokens(context, await requestActor(context, request));
    return { tokens: tokens.map(userTokenBody) };
  });

  routes.post(
    '/me/tokens',
    { schema: { tags, security: bearer, summary: 'Create a personal access token; its secret is shown this once', body: newTokenBody, response: { 201: z.object({ token: userTokenSchema, secret: z.string() }), ...scopedErrors } } },
    async (request, reply) => {
      const { token, secret } = await createUserToken(context, await requestActor(context, request), { label: request.body.label, expiresAt: expiry(request.body.expiresAt) });
      return reply.code(201).send({ token: userTokenBody(token), secret });
    },
  );

  routes.delete(
    '/me/tokens/:tokenId',
    { schema: { tags, security: bearer, summary: 'Revoke one of your tokens', params: z.object({ tokenId: z.string().min(1).max(200) }), response: { 200: userTokenSchema, ...scopedErrors } } },
    async (request) => userTokenBody(await revokeUserToken(context, await requestActor(context, request), request.params.tokenId)),
  );

  routes.get('/agents/:agent/tokens', { schema: { tags, security: bearer, summary: "The agent's tokens", params: agentParams, response: { 200: z.object({ tokens: z.array(agentTokenSchema) }), ...scopedErrors } } }, async (request) => {
    const tokens = await listAgentTokens(context, await requestScope(context, request), request.params.agent);
    return { tokens: tokens.map(agentTokenBody) };
  });

  routes.post(
    '/agents/:agent/tokens',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Create an agent token narrowed to a ceiling; its secret is shown this once',
        params: agentParams,
        body: newAgentTokenBody,
        response: { 201: z.object({ token: agentTokenSchema, secret: z.string() }), ...scopedErrors },
      },
    },
    async (request, reply) => {
      const { label, ceiling, expiresAt } = request.body;
      const { token, secret } = await createAgentToken(context, await requestScope(context, request), request.params.agent, { label, ceiling, expiresAt: expiry(expiresAt) });
      return reply.code(201).send({ token: agentTokenBody(token), secret });
    },
  );

  routes.delete(
    '/agents/:agent/tokens/:tokenId',
    { schema: { tags, security: bearer, summary: 'Revoke an agent token', params: agentParams.extend({ tokenId: z.string().min(1).max(200) }), response: { 200: agentTokenSchema, ...scopedErrors } } },
    async (request) => agentTokenBody(await revokeAgentToken(context, await requestScope(context, request), request.params.agent, request.params.tokenId)),
  );
}
