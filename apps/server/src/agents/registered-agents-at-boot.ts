import type { AgentRegistry } from '@data-machine/agents-api';
import { DataMachineError, findTenant, reconcileRegisteredAgents, type DataMachineContext, type RegisteredAgentsReport } from 'data-machine';

/** What {@link reconcileAtBoot} takes. */
export interface BootAgentsOptions {
  /** The slug (or id) of the tenant registered agents live in (`DM_HOME_TENANT`). */
  readonly homeTenant: string;
  /** The server's initialised agent registry. */
  readonly registry: Pick<AgentRegistry, 'list'>;
}

/**
 * Materialises the registry's agents as rows of the home tenant before the
 * server listens (see `reconcileRegisteredAgents`). An empty registry does
 * nothing and needs no home tenant; otherwise a home tenant that does not
 * exist is `tenant.not_found`, and a slug taken by a product agent
 * `agent.registry_conflict`: the server does not start on either.
 */
export async function reconcileAtBoot(context: DataMachineContext, options: BootAgentsOptions): Promise<RegisteredAgentsReport | null> {
  if (options.registry.list().length === 0) return null;
  const tenant = await findTenant(context, options.homeTenant);
  if (!tenant) {
    throw new DataMachineError('tenant.not_found', `The home tenant "${options.homeTenant}" (DM_HOME_TENANT) does not exist; registered agents need one.`, {
      details: { tenant: options.homeTenant },
    });
  }
  return reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: options.registry });
}
