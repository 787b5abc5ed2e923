import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  DataMachineError,
  addMember,
  createTenant,
  findUser,
  listMembers,
  listMyTenants,
  newMemberSchema,
  tenantRoleSchema,
  tenantSettingsSchema,
  updateTenantSettings,
  type DataMachineContext,
  type Tenant,
} from 'data-machine';
import { z } from 'zod';
import { requestActor, requestIdentity, requestScope } from '../authentication';
import { agentSchema } from './agent-routes';
import { bearer, instant, instantSchema, pageQuery, scopedErrors } from './schemas';

const tenantSchema = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  isCatalog: z.boolean(),
  agentLimitPerUser: z.number().int(),
  allowPrivateAddresses: z.boolean().describe("Whether the tenant's handlers may reach private, loopback and link-local addresses. The server operator's setting: read-only over HTTP."),
  createdAt: instantSchema,
});
const tenantBody = (tenant: Tenant): z.output<typeof tenantSchema> => ({ ...tenant, createdAt: instant(tenant.createdAt) });
const membershipSchema = z.object({ tenant: tenantSchema, role: tenantRoleSchema });
const memberSchema = z.object({ userId: z.string(), email: z.string(), displayName: z.string(), role: tenantRoleSchema, createdAt: instantSchema });

/** Who you are, your tenants, and the settings and members of the request's tenant. */
export function registerTenantRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['tenants'];

  routes.get(
    '/me',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Who the token acts as, and the tenants they belong to',
        response: {
          200: z.object({
            user: z.object({ id: z.string(), email: z.string(), displayName: z.string() }),
            via: z.enum(['user', 'agent_token']),
            tenants: z.array(membershipSchema),
          }),
          ...scopedErrors,
        },
      },
    },
    async (request) => {
      const identity = await requestIdentity(context, request);
      const user = await findUser(context, identity.actor.userId);
      // Deleting a user deletes their tokens, so an authenticated token always has its user.
      if (!user) throw new DataMachineError('user.not_found', `There is no user "${identity.actor.userId}".`);
      const memberships = await listMyTenants(context, identity.actor);
      return {
        user: { id: user.id, email: user.email, displayName: user.displayName },
        via: identity.kind,
        tenants: memberships.map((membership) => ({ tenant: tenantBody(membership.tenant), role: membership.role })),
      };
    },
  );

  routes.post(
    '/tenants',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Create a tenant you own, with its default agent',
        body: z.object({ slug: z.string(), name: z.string() }).strict(),
        response: { 201: z.object({ tenant: tenantSchema, defaultAgent: agentSchema }), ...scopedErrors },
      },
    },
    async (request, reply) => {
      const { tenant, defaultAgent } = await createTenant(context, await requestActor(context, request), request.body);
      return reply
        .code(201)
        .send({ tenant: tenantBody(tenant), defaultAgent: { ...defaultAgent, createdAt: instant(defaultAgent.createdAt), updatedAt: instant(defaultAgent.updatedAt) } });
    },
  );

  routes.patch(
    '/tenant',
    { schema: { tags, security: bearer, summary: "Change the request's tenant's name or self-service agent limit", body: tenantSettingsSchema, response: { 200: tenantSchema, ...scopedErrors } } },
    async (request) => tenantBody(await updateTenantSettings(context, await requestScope(context, request), request.body)),
  );

  routes.get(
    '/tenant/members',
    {
      schema: {
        tags,
        security: bearer,
        summary: "The request's tenant's members with their roles, oldest first, a page at a time (tenant.manage)",
        querystring: pageQuery,
        response: { 200: z.object({ members: z.array(memberSchema), nextCursor: z.string().nullable() }), ...scopedErrors },
      },
    },
    async (request) => {
      const page = await listMembers(context, await requestScope(context, request), request.query);
      return { members: page.items.map((member) => ({ ...member, createdAt: instant(member.createdAt) })), nextCursor: page.nextCursor };
    },
  );

  routes.put(
    '/tenant/members/:userId',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Add a user to the tenant or change their role',
        params: z.object({ userId: z.string().min(1).max(200) }),
        body: newMemberSchema.pick({ role: true }).strict(),
        response: { 200: newMemberSchema, ...scopedErrors },
      },
    },
    async (request) => addMember(context, await requestScope(context, request), { userId: request.params.userId, role: request.body.role }),
  );
}
