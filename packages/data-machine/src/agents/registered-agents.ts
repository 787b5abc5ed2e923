import { sql } from 'kysely';
import type { AgentDefinition, AgentRegistry } from '@data-machine/agents-api';
import type { Actor } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import type { Scope } from '../scope/scope';
import { tenantOperation, type AgentRow } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { agentConfigSchema, type AgentConfig } from './agent-config';
import { recordAgentCreated, type AgentInsert } from './agent-repository';

/** What {@link reconcileRegisteredAgents} takes. */
export interface ReconcileRegisteredAgentsOptions {
  /** The home tenant: where registry agents live. */
  readonly tenantId: string;
  /** An initialised registry; only its `list` is read. */
  readonly registry: Pick<AgentRegistry, 'list'>;
}

/** What a reconciliation did, by slug. */
export interface RegisteredAgentsReport {
  readonly created: readonly string[];
  readonly updated: readonly string[];
  readonly unchanged: readonly string[];
  /** Rows materialised from a definition the registry no longer has: kept, with their data, for an operator to delete. */
  readonly unregistered: readonly string[];
}

const reconciler: Actor = { kind: 'system', channel: 'worker', reason: 'registry reconciliation' };

/**
 * Materialises every definition of `registry` as an agent row of the home
 * tenant, idempotently: a new definition inserts a row (origin `registry`,
 * no owner) and records `agent.created`; a changed one updates the row's
 * name, description and configuration; an unchanged one writes nothing. A
 * slug held by an agent created through the product is
 * `agent.registry_conflict`, and then nothing at all is written. Concurrent
 * reconciliations of one tenant (two servers booting) take turns on a
 * transaction lock.
 *
 * @example
 * await registry.init();
 * await reconcileRegisteredAgents(context, { tenantId: home.id, registry });
 */
export async function reconcileRegisteredAgents(context: DataMachineContext, options: ReconcileRegisteredAgentsOptions): Promise<RegisteredAgentsReport> {
  const definitions = options.registry.list();
  const scope: Scope = { tenantId: options.tenantId, actor: reconciler, facts: { tenantId: options.tenantId, membership: null, agentRoles: new Map(), tenantWideRole: null } };
  return tenantOperation(context, scope, 'agent.create_any', async (trx) => {
    await requireTenant(trx, options.tenantId);
    await sql`select pg_advisory_xact_lock(hashtext(${`dm_registered_agents:${options.tenantId}`}))`.execute(trx);
    const existing = await trx.selectFrom('dm_agents').selectAll().where('tenant_id', '=', options.tenantId).execute();
    const bySlug = new Map(existing.map((row) => [row.slug, row]));
    refuseConflicts(definitions, bySlug);
    const report: Record<'created' | 'updated' | 'unchanged', string[]> = { created: [], updated: [], unchanged: [] };
    for (const definition of definitions) {
      const row = bySlug.get(definition.slug);
      const outcome = row === undefined ? await insertRegistered(context, trx, options.tenantId, definition) : await updateIfChanged(context, trx, row, definition);
      report[outcome].push(definition.slug);
    }
    const registered = new Set(definitions.map((definition) => definition.slug));
    const unregistered = existing.filter((row) => row.origin === 'registry' && !registered.has(row.slug)).map((row) => row.slug);
    return { ...report, unregistered };
  });
}

/** The configuration a definition stores: what the product's agent configuration carries of it. */
export function registeredAgentConfig(definition: AgentDefinition): AgentConfig {
  return agentConfigSchema.parse({
    instructions: definition.instructions,
    ...(definition.runtime.model === undefined ? {} : { model: definition.runtime.model }),
    ...(definition.toolPolicy === undefined ? {} : { toolPolicy: definition.toolPolicy }),
    ...(Object.keys(definition.memorySeeds).length === 0 ? {} : { memorySeeds: definition.memorySeeds }),
  });
}

async function requireTenant(trx: TenantTransaction, tenantId: string): Promise<void> {
  const tenant = await trx.selectFrom('dm_tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) throw new DataMachineError('tenant.not_found', `There is no tenant "${tenantId}".`, { details: { tenantId } });
}

// Checked for every definition before the first write, so a conflict leaves the tenant untouched.
function refuseConflicts(definitions: readonly AgentDefinition[], bySlug: ReadonlyMap<string, AgentRow>): void {
  const taken = definitions.filter((definition) => bySlug.get(definition.slug)?.origin === 'product').map((definition) => definition.slug);
  if (taken.length === 0) return;
  throw new DataMachineError('agent.registry_conflict', `Registered agents clash with agents created in the product: ${taken.join(', ')}. Rename one side.`, {
    details: { slugs: taken },
  });
}

async function insertRegistered(context: DataMachineContext, trx: TenantTransaction, tenantId: string, definition: AgentDefinition): Promise<'created'> {
  const now = context.now();
  const config = registeredAgentConfig(definition);
  const row: AgentInsert = {
    id: context.newId('agt'),
    tenant_id: tenantId,
    slug: definition.slug,
    name: definition.label,
    description: definition.description,
    owner_user_id: null,
    template_agent_id: null,
    is_default: false,
    origin: 'registry',
    config: JSON.stringify(config),
    created_by: null,
    created_at: now,
    updated_at: now,
  };
  await trx.insertInto('dm_agents').values(row).execute();
  await recordAgentCreated(context, trx, row, config.soulSeed ?? null);
  return 'created';
}

async function updateIfChanged(context: DataMachineContext, trx: TenantTransaction, row: AgentRow, definition: AgentDefinition): Promise<'updated' | 'unchanged'> {
  const config = registeredAgentConfig(definition);
  const same = row.name === definition.label && row.description === definition.description && canonicalJson(row.config) === canonicalJson(config);
  if (same) return 'unchanged';
  await trx
    .updateTable('dm_agents')
    .set({ name: definition.label, description: definition.description, config: JSON.stringify(config), updated_at: context.now() })
    .where('id', '=', row.id)
    .where('tenant_id', '=', row.tenant_id)
    .execute();
  return 'updated';
}

// jsonb reorders object keys, so a stored configuration is compared by content, not by text.
function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, child]) => [key, sortKeys(child)]));
}
