import { z } from 'zod';
import { actingUserId } from '../access/actor';
import { recordAgentCreated, rowAsRead, toAgent, type Agent, type AgentInsert } from '../agents/agent-repository';
import { agentConfigSchema } from '../agents/agent-config';
import type { DataMachineContext } from '../context';
import { isUniqueViolation } from '../database/database-errors';
import { DataMachineError } from '../errors';
import { nameSchema, parseInput } from '../input';
import { agentSlugSchema } from '@data-machine/agents-api';
import { agentNotFound, type Scope } from '../scope/scope';
import { tenantOperation } from '../scope/scoped-operation';

/** What {@link installTemplate} takes. */
export const templateInstallSchema = z
  .object({
    /** The template agent's id. */
    templateAgentId: z.string().min(1),
    /** Default: the template's slug. */
    slug: agentSlugSchema.optional(),
    /** Default: the template's name. */
    name: nameSchema.optional(),
  })
  .strict();

/**
 * Installs a catalog template into the scope's tenant by reference: one agent
 * row that points at the template, no copy of its configuration. Idempotent
 * and safe under concurrency: `INSERT ... ON CONFLICT (tenant, template)`
 * returns the existing install, so two installs yield one row. Refused, each
 * checked inside the transaction: a template that is itself an install
 * (`template.is_install`), one outside a catalog (`template.not_catalog`), an
 * install into the catalog itself (`template.target_is_catalog`), and a caller
 * who is not an owner or admin of the tenant (`access.denied`, as
 * `agent.create_any`). The install's effective configuration is the
 * template's overlaid by its own fields, one hop; editing it never writes the template.
 */
export async function installTemplate(context: DataMachineContext, scope: Scope, input: z.input<typeof templateInstallSchema>): Promise<{ agent: Agent; created: boolean }> {
  const fields = parseInput(templateInstallSchema, input, 'template install');
  try {
    return await tenantOperation(context, scope, 'agent.create_any', async (trx) => {
      const template = await trx
        .selectFrom('dm_agents')
        .innerJoin('dm_tenants', 'dm_tenants.id', 'dm_agents.tenant_id')
        .selectAll('dm_agents')
        .select('dm_tenants.is_catalog')
        .where('dm_agents.id', '=', fields.templateAgentId)
        .executeTakeFirst();
      if (!template) throw agentNotFound(fields.templateAgentId);
      if (template.template_agent_id !== null) {
        throw new DataMachineError('template.is_install', 'That agent is itself an install of a template; install the template it references.', {
          details: { templateAgentId: template.id, references: template.template_agent_id },
        });
      }
      if (!template.is_catalog) {
        throw new DataMachineError('template.not_catalog', 'Only agents of a catalog tenant can be installed as templates.', { details: { templateAgentId: template.id } });
      }
      const target = await trx.selectFrom('dm_tenants').select('is_catalog').where('id', '=', scope.tenantId).executeTakeFirstOrThrow();
      if (target.is_catalog || template.tenant_id === scope.tenantId) {
        throw new DataMachineError('template.target_is_catalog', 'A catalog does not install templates into itself.', { details: { tenantId: scope.tenantId } });
      }
      const now = context.now();
      const row: AgentInsert = {
        id: context.newId('agt'),
        tenant_id: scope.tenantId,
        slug: fields.slug ?? template.slug,
        name: fields.name ?? template.name,
        description: template.description,
        owner_user_id: null,
        template_agent_id: template.id,
        is_default: false,
        origin: 'product',
        config: JSON.stringify({}),
        created_by: actingUserId(scope.actor),
        created_at: now,
        updated_at: now,
      };
      const inserted = await trx
        .insertInto('dm_agents')
        .values(row)
        .onConflict((conflict) => conflict.columns(['tenant_id', 'template_agent_id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      const templateConfig = agentConfigSchema.parse(template.config);
      if (inserted) {
        await recordAgentCreated(context, trx, row, templateConfig.soulSeed ?? null);
        return { agent: toAgent(rowAsRead(row, {}), templateConfig), created: true };
      }
      const existing = await trx
        .selectFrom('dm_agents')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId)
        .where('template_agent_id', '=', template.id)
        .executeTakeFirstOrThrow();
      return { agent: toAgent(existing, templateConfig), created: false };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'dm_agents_tenant_slug_key')) {
      const slug = fields.slug ?? '(the template slug)';
      throw new DataMachineError('agent.slug_taken', `An agent with the slug "${slug}" exists in this tenant; choose another slug for the install.`, { details: { slug } });
    }
    throw error;
  }
}
