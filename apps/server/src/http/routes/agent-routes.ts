import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  agentConfigSchema,
  agentPatchSchema,
  agentRoleSchema,
  createAgent,
  deleteAgent,
  getAgent,
  grantAgentRole,
  listAgentGrants,
  listAgents,
  newAgentSchema,
  revokeAgentRole,
  updateAgent,
  type Agent,
  type AgentGrant,
  type DataMachineContext,
  type VisibleAgent,
} from 'data-machine';
import { z } from 'zod';
import { requestAgent, requestScope } from '../authentication';
import { bearer, instant, instantSchema, pathReferenceSchema, scopedErrors } from './schemas';

/** An agent as the API shows it. */
export const agentSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  ownerUserId: z.string().nullable(),
  templateAgentId: z.string().nullable(),
  isDefault: z.boolean(),
  config: agentConfigSchema,
  effectiveConfig: agentConfigSchema,
  createdBy: z.string().nullable(),
  createdAt: instantSchema,
  updatedAt: instantSchema,
});
const visibleAgentSchema = agentSchema.extend({ role: agentRoleSchema });
const grantSchema = z.object({ agentId: z.string(), userId: z.string(), role: agentRoleSchema, createdBy: z.string().nullable(), createdAt: instantSchema });

/** Names an agent by id or slug. */
export const agentParams = z.object({ agent: pathReferenceSchema });

/** An agent as the API shows it. */
export function agentBody(agent: Agent): z.output<typeof agentSchema> {
  return { ...agent, createdAt: instant(agent.createdAt), updatedAt: instant(agent.updatedAt) };
}
function visibleAgentBody(agent: VisibleAgent): z.output<typeof visibleAgentSchema> {
  return { ...agentBody(agent), role: agent.role };
}
function grantBody(grant: AgentGrant): z.output<typeof grantSchema> {
  return { ...grant, createdAt: instant(grant.createdAt) };
}

/** Agents and their grants, in the request's tenant. An agent the caller cannot see is 404, like a missing one. */
export function registerAgentRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['agents'];

  routes.get('/agents', { schema: { tags, security: bearer, summary: 'The agents you can see, with your role on each', response: { 200: z.object({ agents: z.array(visibleAgentSchema) }), ...scopedErrors } } }, async (request) => {
    const agents = await listAgents(context, await requestScope(context, request));
    return { agents: agents.map(visibleAgentBody) };
  });

  routes.post('/agents', { schema: { tags, security: bearer, summary: 'Create an agent', body: newAgentSchema, response: { 201: agentSchema, ...scopedErrors } } }, async (request, reply) => {
    const agent = await createAgent(context, await requestScope(context, request), request.body);
    return reply.code(201).send(agentBody(agent));
  });

  routes.get(
    '/agents/:agent',
    // Read with the request's authentication, in its one transaction (the product's `getAgent` otherwise).
    { config: { agentAccess: { param: 'agent', action: 'agent.read' } }, schema: { tags, security: bearer, summary: 'One agent', params: agentParams, response: { 200: agentSchema, ...scopedErrors } } },
    async (request) => {
      const authorized = await requestAgent(context, request);
      return agentBody(authorized?.agent ?? (await getAgent(context, await requestScope(context, request), request.params.agent)));
    },
  );

  routes.patch(
    '/agents/:agent',
    { schema: { tags, security: bearer, summary: "Change an agent's name, description or configuration", params: agentParams, body: agentPatchSchema, response: { 200: agentSchema, ...scopedErrors } } },
    async (request) => agentBody(await updateAgent(context, await requestScope(context, request), request.params.agent, request.body)),
  );

  routes.delete('/agents/:agent', { schema: { tags, security: bearer, summary: 'Delete an agent', params: agentParams, response: { 204: z.null(), ...scopedErrors } } }, async (request, reply) => {
    await deleteAgent(context, await requestScope(context, request), request.params.agent);
    return reply.code(204).send(null);
  });

  routes.get('/agents/:agent/grants', { schema: { tags, security: bearer, summary: "The agent's grants", params: agentParams, response: { 200: z.object({ grants: z.array(grantSchema) }), ...scopedErrors } } }, async (request) => {
    const grants = await listAgentGrants(context, await requestScope(context, request), request.params.agent);
    return { grants: grants.map(grantBody) };
  });

  const grantParams = agentParams.extend({ userId: z.string().min(1).max(200) });
  routes.put(
    '/agents/:agent/grants/:userId',
    { schema: { tags, security: bearer, summary: 'Give a member (named by user id or email) a role on the agent, or change it', params: grantParams, body: z.object({ role: agentRoleSchema }).strict(), response: { 200: grantSchema, ...scopedErrors } } },
    async (request) => grantBody(await grantAgentRole(context, await requestScope(context, request), request.params.agent, { userId: request.params.userId, role: request.body.role })),
  );

  routes.delete('/agents/:agent/grants/:userId', { schema: { tags, security: bearer, summary: "Revoke a member's role on the agent", params: grantParams, response: { 204: z.null(), ...scopedErrors } } }, async (request, reply) => {
    await revokeAgentRole(context, await requestScope(context, request), request.params.agent, request.params.userId);
    return reply.code(204).send(null);
  });
}
