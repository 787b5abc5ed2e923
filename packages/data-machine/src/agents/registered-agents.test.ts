import { createAgentRegistry, type AgentDefinitionInput, type AgentRegistry } from '@data-machine/agents-api';
import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { createAgent, getAgent } from './agent-repository';
import { reconcileRegisteredAgents } from './registered-agents';

async function registryOf(...definitions: AgentDefinitionInput[]): Promise<AgentRegistry> {
  const registry = createAgentRegistry();
  registry.onInit((agents) => {
    for (const definition of definitions) agents.register(definition);
  });
  await registry.init();
  return registry;
}

const writer: AgentDefinitionInput = {
  slug: 'writer',
  label: 'Writer',
  description: 'Writes posts.',
  instructions: 'You write clearly.',
  runtime: { model: 'gpt-test' },
  toolPolicy: { allow: ['search'] },
  memorySeeds: { 'MEMORY.md': 'Prefers short posts.' },
};
const editor: AgentDefinitionInput = { slug: 'editor', label: 'Editor', instructions: 'You edit.' };

await describeEachDatabase<DataMachineDatabase>('registered agents', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  // Row versions: a row that was not written keeps its xmin.
  async function rowVersions(tenantId: string): Promise<Record<string, string>> {
    const { rows } = await sql<{ slug: string; version: string }>`select slug, xmin::text as version from dm_agents where tenant_id = ${tenantId}`.execute(database.db);
    return Object.fromEntries(rows.map((row) => [row.slug, row.version]));
  }

  async function eventCount(tenantId: string): Promise<number> {
    return (await database.db.selectFrom('dm_outbox_events').select('id').where('tenant_id', '=', tenantId).execute()).length;
  }

  describe('materialising definitions', () => {
    it('creates one registry row per definition, with its configuration and an agent.created event', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'reg-create');
      const report = await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) });
      expect(report).toEqual({ created: ['writer', 'editor'], updated: [], unchanged: [], unregistered: [] });
      const agent = await getAgent(context, await scopeOf(context, owner.id, tenant.id), 'writer');
      expect(agent).toMatchObject({ name: 'Writer', description: 'Writes posts.', ownerUserId: null, createdBy: null });
      expect(agent.config).toEqual({
        instructions: 'You write clearly.',
        model: 'gpt-test',
        toolPolicy: { allow: ['search'] },
        memorySeeds: { 'MEMORY.md': 'Prefers short posts.' },
      });
      const origins = await database.db.selectFrom('dm_agents').select(['slug', 'origin']).where('tenant_id', '=', tenant.id).orderBy('slug').execute();
      expect(origins).toEqual([
        { slug: 'default', origin: 'product' },
        { slug: 'editor', origin: 'registry' },
        { slug: 'writer', origin: 'registry' },
      ]);
      // The tenant's default agent, then the two registered ones.
      expect(await eventCount(tenant.id)).toBe(3);
    });

    it('writes nothing when the same registry is reconciled again', async () => {
      const { tenant } = await tenantWithMembers(context, 'reg-again');
      const registry = await registryOf(writer, editor);
      await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry });
      const versions = await rowVersions(tenant.id);
      const events = await eventCount(tenant.id);
      const report = await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) });
      expect(report).toEqual({ created: [], updated: [], unchanged: ['writer', 'editor'], unregistered: [] });
      expect(await rowVersions(tenant.id)).toEqual(versions);
      expect(await eventCount(tenant.id)).toBe(events);
    });

    it('updates the configuration of a changed definition only', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'reg-change');
      await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) });
      const before = await rowVersions(tenant.id);
      const changed = { ...writer, instructions: 'You write very clearly.', runtime: {} };
      const report = await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(changed, editor) });
      expect(report).toMatchObject({ updated: ['writer'], unchanged: ['editor'] });
      const after = await rowVersions(tenant.id);
      expect(after.editor).toBe(before.editor);
      expect(after.writer).not.toBe(before.writer);
      const agent = await getAgent(context, await scopeOf(context, owner.id, tenant.id), 'writer');
      expect(agent.config).toEqual({ instructions: 'You write very clearly.', toolPolicy: { allow: ['search'] }, memorySeeds: { 'MEMORY.md': 'Prefers short posts.' } });
    });

    it('keeps, and reports, a registry row whose definition is gone', async () => {
      const { tenant } = await tenantWithMembers(context, 'reg-gone');
      await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) });
      const report = await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(editor) });
      expect(report).toEqual({ created: [], updated: [], unchanged: ['editor'], unregistered: ['writer'] });
      expect(await database.db.selectFrom('dm_agents').select('slug').where('tenant_id', '=', tenant.id).where('slug', '=', 'writer').execute()).toHaveLength(1);
    });
  });

  describe('refusals', () => {
    it('refuses a slug a product agent holds, and writes nothing at all', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'reg-clash');
      await createAgent(context, await scopeOf(context, owner.id, tenant.id), { slug: 'editor', name: 'Our editor' });
      const versions = await rowVersions(tenant.id);
      const events = await eventCount(tenant.id);
      const error = await reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) }).catch((caught: unknown) => caught);
      expect(DataMachineError.isInstance(error) && error.code).toBe('agent.registry_conflict');
      expect((error as DataMachineError).details).toEqual({ slugs: ['editor'] });
      expect(await rowVersions(tenant.id)).toEqual(versions);
      expect(await eventCount(tenant.id)).toBe(events);
    });

    it("refuses the tenant's default agent's slug", async () => {
      const { tenant } = await tenantWithMembers(context, 'reg-default');
      const clash = { slug: 'default', label: 'Default', instructions: 'Hi.' };
      expect(await codeOf(reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(clash) }))).toBe('agent.registry_conflict');
    });

    it('refuses a tenant that does not exist', async () => {
      expect(await codeOf(reconcileRegisteredAgents(context, { tenantId: 'ten_missing', registry: await registryOf(writer) }))).toBe('tenant.not_found');
    });

    it('yields one row per definition from two concurrent reconciliations', async () => {
      const { tenant } = await tenantWithMembers(context, 'reg-race');
      const reports = await Promise.all([
        reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) }),
        reconcileRegisteredAgents(context, { tenantId: tenant.id, registry: await registryOf(writer, editor) }),
      ]);
      expect(reports.map((report) => report.created.length).sort()).toEqual([0, 2]);
      expect(await database.db.selectFrom('dm_agents').select('slug').where('tenant_id', '=', tenant.id).where('origin', '=', 'registry').execute()).toHaveLength(2);
    });
  });
});
