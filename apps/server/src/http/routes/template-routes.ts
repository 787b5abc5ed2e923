import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { installTemplate, listTemplates, templateInstallSchema, type DataMachineContext, type TemplateSummary } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { agentBody, agentSchema } from './agent-routes';
import { bearer, bodyErrors, pathReferenceSchema, scopedErrors } from './schemas';

const templateSchema = z.object({
  id: z.string().describe('the template agent: what `POST /templates/{template}/install` names'),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  catalog: z.string().describe('the slug of the catalog tenant that holds it'),
  installedAs: z.string().nullable().describe("the slug of its install in the request's tenant, or null"),
});
const templateBody = (template: TemplateSummary): z.output<typeof templateSchema> => ({ ...template });
const installSchema = z.object({ created: z.boolean().describe('false when the tenant already had it: the existing install is answered'), agent: agentSchema });

/**
 * The template catalog (`/templates`): every catalog's template agents, and
 * their install into the request's tenant, as the CLI's `templates list` and
 * `templates install` do. Listing is open to any member; installing is
 * `agent.create_any` (owners and admins).
 */
export function registerTemplateRoutes(app: FastifyInstance, context: DataMachineContext): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['templates'];

  routes.get(
    '/templates',
    { schema: { tags, security: bearer, summary: "The catalogs' templates, by catalog and slug, each with its install in your tenant", response: { 200: z.object({ templates: z.array(templateSchema) }), ...scopedErrors } } },
    async (request) => ({ templates: (await listTemplates(context, await requestScope(context, request))).map(templateBody) }),
  );

  routes.post(
    '/templates/:template/install',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Install a template into your tenant: an agent that references it (201), or the existing install (200)',
        description: 'An unknown template is 404 `agent.not_found`; an install of an install, a template outside a catalog or an install into a catalog is 409 (`template.*`); a taken slug is 409 `agent.slug_taken`.',
        params: z.object({ template: pathReferenceSchema.describe("the template's id") }),
        // Fastify reads a request without a body as null: both mean the template's own slug and name.
        body: templateInstallSchema.omit({ templateAgentId: true }).nullish(),
        response: { 200: installSchema, 201: installSchema, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const { agent, created } = await installTemplate(context, await requestScope(context, request), { ...(request.body ?? {}), templateAgentId: request.params.template });
      return reply.code(created ? 201 : 200).send({ created, agent: agentBody(agent) });
    },
  );
}
