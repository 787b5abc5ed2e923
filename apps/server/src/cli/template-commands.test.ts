import { describeEachDatabase } from '@data-machine/testkit';
import { createAgent, createDataMachineContext, createTenant, resolveScope, type Actor, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import { beforeAll, expect, it } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';

await describeEachDatabase<DataMachineDatabase>('template commands', (database) => {
  let context: DataMachineContext;
  let writerId: string;
  const { cli, failure } = cliRunner(() => context);
  const owner = ['--as', 'owner@templates.test'] as const;
  const editor = ['--as', 'editor@templates.test'] as const;
  const system: Actor = { kind: 'system', channel: 'cli', reason: 'test setup' };

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    for (const slug of ['cli-catalog', 'cli-other-catalog']) {
      const catalog = await createTenant(context, system, { slug, name: slug, isCatalog: true });
      const writer = await createAgent(context, await resolveScope(context, system, catalog.tenant.id), { slug: 'writer', name: 'Writer', ownerUserId: null, config: { instructions: 'Write.' } });
      if (slug === 'cli-catalog') writerId = writer.id;
    }
    await cli('users', 'create', '--email', 'owner@templates.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'editor@templates.test', '--name', 'Editor', '--as', 'system');
    await cli('tenants', 'create', '--slug', 'templates-co', '--name', 'Templates Co', ...owner);
    await cli('members', 'add', '--user', 'editor@templates.test', '--role', 'editor', ...owner);
  });

  it('lists the templates of every catalog as a table and as JSON, for any member', async () => {
    const table = await cli('templates', 'list', ...editor);
    expect(table.split('\n')[0]).toMatch(/^catalog\s+slug\s+name\s+installed as\s+id$/);
    expect(table).toMatch(/^cli-catalog\s+writer\s+Writer\s+-\s+agt_\w+$/m);
    const listed = JSON.parse(await cli('templates', 'list', ...editor, '--json')) as { id: string; catalog: string }[];
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ id: writerId, catalog: 'cli-catalog' })]));
  });

  it('installs by catalog/slug once, then reports the install it already has', async () => {
    expect(await cli('templates', 'install', 'cli-catalog/writer', '--slug', 'my-writer', ...owner)).toMatch(/^installed cli-catalog\/writer as agent my-writer \(agt_\w+\)\n$/);
    expect(JSON.parse(await cli('templates', 'install', writerId, ...owner, '--json'))).toMatchObject({ created: false, agent: { slug: 'my-writer', templateAgentId: writerId } });
    expect(await cli('templates', 'list', ...owner)).toMatch(/^cli-catalog\s+writer\s+Writer\s+my-writer\s/m);
  });

  it('refuses an ambiguous slug, an unknown template, and a member who may not manage agents', async () => {
    expect(await failure('templates', 'install', 'writer', ...owner)).toMatch(/^usage: "writer" is in several catalogs \(cli-catalog, cli-other-catalog\)/);
    expect(await failure('templates', 'install', 'agt_nope', ...owner)).toBe('agent.not_found');
    expect(await failure('templates', 'install', 'cli-other-catalog/writer', ...editor)).toBe('access.denied');
  });
});
