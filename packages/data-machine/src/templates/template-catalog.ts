import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import type { Scope } from '../scope/scope';
import { inTenant } from '../scope/tenant-transaction';
import { actingUserId } from '../access/actor';

/** A catalog's template agent as the catalog lists it, with its install in the scope's tenant, if any. */
export interface TemplateSummary {
  /** The template agent's id: what {@link installTemplate} takes. */
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly description: string;
  /** The slug of the catalog tenant that holds it. */
  readonly catalog: string;
  /** The slug of the scope tenant's install of it, or null when it is not installed there. */
  readonly installedAs: string | null;
}

/**
 * Every catalog's templates (agents of catalog tenants that are not
 * themselves installs), ordered by catalog and slug, each with its install in
 * the scope's tenant. Catalog templates are public, so any member of the
 * tenant (or the system) may list them; a user who is not a member gets
 * `tenant.not_found`, as everywhere else.
 */
export function listTemplates(context: DataMachineContext, scope: Scope): Promise<TemplateSummary[]> {
  if (scope.actor.kind === 'user' && scope.facts.membership === null) {
    return Promise.reject(new DataMachineError('tenant.not_found', `There is no tenant "${scope.tenantId}".`, { details: { tenantId: scope.tenantId } }));
  }
  return inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
    const rows = await trx
      .selectFrom('dm_agents as template')
      .innerJoin('dm_tenants as catalog', 'catalog.id', 'template.tenant_id')
      .leftJoin('dm_agents as install', (join) => join.onRef('install.template_agent_id', '=', 'template.id').on('install.tenant_id', '=', scope.tenantId))
      .select(['template.id', 'template.slug', 'template.name', 'template.description', 'catalog.slug as catalog', 'install.slug as installedAs'])
      .where('catalog.is_catalog', '=', true)
      .where('template.template_agent_id', 'is', null)
      .orderBy('catalog.slug')
      .orderBy('template.slug')
      .execute();
    return rows.map((row) => ({ id: row.id, slug: row.slug, name: row.name, description: row.description, catalog: row.catalog, installedAs: row.installedAs ?? null }));
  });
}
