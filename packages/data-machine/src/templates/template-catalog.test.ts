import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { resolveScope } from '../scope/scope';
import { createTenant } from '../tenants/tenant-repository';
import { codeOf, migratedContext, newUser, scopeOf, system, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { listTemplates } from './template-catalog';
import { installTemplate } from './template-install';

await describeEachDatabase<DataMachineDatabase>('template catalog', (database) => {
  let context: TestContext;
  let templateIds: { writer: string; editor: string };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    const catalog = await createTenant(context, system, { slug: 'list-catalog', name: 'Catalog', isCatalog: true });
    const catalogScope = await resolveScope(context, system, catalog.tenant.id);
    const writer = await createAgent(context, catalogScope, { slug: 'writer', name: 'Writer', ownerUserId: null, config: { instructions: 'Write.' } });
    const editor = await createAgent(context, catalogScope, { slug: 'editor', name: 'Editor', ownerUserId: null, config: {} });
    templateIds = { writer: writer.id, editor: editor.id };
  });

  it("lists every catalog's templates by slug, never an ordinary tenant's agents, with the tenant's install of each", async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'lister');
    const scope = await scopeOf(context, owner.id, tenant.id);
    await installTemplate(context, scope, { templateAgentId: templateIds.writer, slug: 'my-writer' });
    const listed = await listTemplates(context, scope);
    // A catalog's default agent is one of its templates too.
    expect(listed.filter((template) => template.catalog === 'list-catalog').map(({ slug, installedAs }) => [slug, installedAs])).toEqual([
      ['default', null],
      ['editor', null],
      ['writer', 'my-writer'],
    ]);
    expect(listed.find((template) => template.id === templateIds.writer)).toMatchObject({ name: 'Writer', catalog: 'list-catalog' });
    expect(listed.some((template) => template.catalog === tenant.slug)).toBe(false);
  });

  it('lists for any member, and refuses a user who is not one as tenant.not_found', async () => {
    const { tenant, members } = await tenantWithMembers(context, 'reader', ['subscriber']);
    const subscriber = members.subscriber;
    if (subscriber === undefined) throw new Error('no subscriber');
    expect(await listTemplates(context, await scopeOf(context, subscriber.id, tenant.id))).not.toHaveLength(0);
    const stranger = await newUser(context, 'stranger');
    expect(await codeOf(listTemplates(context, await scopeOf(context, stranger.id, tenant.id)))).toBe('tenant.not_found');
  });
});
