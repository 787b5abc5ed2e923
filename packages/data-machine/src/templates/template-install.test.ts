import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import { createAgent, getAgent, updateAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { resolveScope } from '../scope/scope';
import { createTenant } from '../tenants/tenant-repository';
import { codeOf, migratedContext, scopeOf, system, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { installTemplate } from './template-install';


await describeEachDatabase<DataMachineDatabase>('templates by reference', (database) => {
  let context: TestContext;
  let templateId: string;
  let catalogId: string;

  beforeAll(async () => {
    context = await migratedContext(database.db);
    const catalog = await createTenant(context, system, { slug: 'catalog', name: 'Catalog', isCatalog: true });
    catalogId = catalog.tenant.id;
    const template = await createAgent(context, await resolveScope(context, system, catalogId), {
      slug: 'writer',
      name: 'Writer',
      ownerUserId: null,
      config: { instructions: 'Write well.', model: 'gpt-test' },
    });
    templateId = template.id;
  });

  it('installs one agent that references the template, and returns it again on a second install', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'installer');
    const scope = await scopeOf(context, owner.id, tenant.id);
    const first = await installTemplate(context, scope, { templateAgentId: templateId });
    const again = await installTemplate(context, scope, { templateAgentId: templateId });
    expect(first).toMatchObject({ created: true, agent: { slug: 'writer', templateAgentId: templateId, config: {} } });
    expect(first.agent.effectiveConfig).toEqual({ instructions: 'Write well.', model: 'gpt-test' });
    expect(again).toMatchObject({ created: false, agent: { id: first.agent.id } });
  });

  it('yields one row from two concurrent installs', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'racer');
    const scope = await scopeOf(context, owner.id, tenant.id);
    const both = await Promise.all([installTemplate(context, scope, { templateAgentId: templateId }), installTemplate(context, scope, { templateAgentId: templateId })]);
    expect(new Set(both.map((result) => result.agent.id)).size).toBe(1);
    const rows = await database.db.selectFrom('dm_agents').select('id').where('tenant_id', '=', tenant.id).where('template_agent_id', '=', templateId).execute();
    expect(rows).toHaveLength(1);
  });

  it('overlays the install’s own fields on the template, one hop, and never writes the template', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'overlay');
    const scope = await scopeOf(context, owner.id, tenant.id);
    const { agent } = await installTemplate(context, scope, { templateAgentId: templateId, slug: 'my-writer' });
    await updateAgent(context, scope, agent.id, { config: { instructions: 'Write tersely.' } });
    expect((await getAgent(context, scope, 'my-writer')).effectiveConfig).toEqual({ instructions: 'Write tersely.', model: 'gpt-test' });
    const template = await getAgent(context, await resolveScope(context, system, catalogId), templateId);
    expect(template.config).toEqual({ instructions: 'Write well.', model: 'gpt-test' });
  });

  it('refuses an install of an install, a template outside a catalog, an install into the catalog, and a non-admin', async () => {
    const { tenant, owner, members } = await tenantWithMembers(context, 'refusals', ['editor']);
    const scope = await scopeOf(context, owner.id, tenant.id);
    const { agent: install } = await installTemplate(context, scope, { templateAgentId: templateId });
    const other = await tenantWithMembers(context, 'second-installer');
    const otherScope = await scopeOf(context, other.owner.id, other.tenant.id);
    // Another tenant's agents are invisible: not found, whatever they are.
    expect(await codeOf(installTemplate(context, otherScope, { templateAgentId: install.id }))).toBe('agent.not_found');
    // An install is refused as a template even where it can be seen: when its tenant turns into a catalog.
    await database.db.updateTable('dm_tenants').set({ is_catalog: true }).where('id', '=', tenant.id).execute();
    expect(await codeOf(installTemplate(context, otherScope, { templateAgentId: install.id }))).toBe('template.is_install');
    await database.db.updateTable('dm_tenants').set({ is_catalog: false }).where('id', '=', tenant.id).execute();
    const plain = await createAgent(context, scope, { slug: 'plain', name: 'Plain' });
    await createAgent(context, otherScope, { slug: 'own', name: 'Own' });
    expect(await codeOf(installTemplate(context, otherScope, { templateAgentId: (await getAgent(context, otherScope, 'own')).id }))).toBe('template.not_catalog');
    expect(plain.templateAgentId).toBeNull();
    expect(await codeOf(installTemplate(context, await resolveScope(context, system, catalogId), { templateAgentId: templateId }))).toBe('template.target_is_catalog');
    const editor = await scopeOf(context, members.editor!.id, tenant.id);
    expect(await codeOf(installTemplate(context, editor, { templateAgentId: templateId }))).toBe('access.denied');
    expect(await codeOf(installTemplate(context, otherScope, { templateAgentId: 'agt_missing' }))).toBe('agent.not_found');
  });

  it('refuses a slug that clashes, writing nothing', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'clash');
    const scope = await scopeOf(context, owner.id, tenant.id);
    expect(await codeOf(installTemplate(context, scope, { templateAgentId: templateId, slug: 'default' }))).toBe('agent.slug_taken');
    const rows = await database.db.selectFrom('dm_agents').select('id').where('tenant_id', '=', tenant.id).execute();
    expect(rows).toHaveLength(1);
  });
});
