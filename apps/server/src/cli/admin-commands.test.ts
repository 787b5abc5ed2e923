import { describeEachDatabase } from '@data-machine/testkit';
import { createDataMachineContext, type DataMachineContext } from 'data-machine';
import { beforeAll, expect, it } from 'vitest';
import { migrateAll } from '../database/migrate';
import { cliRunner } from '../../test/support/cli-runner';

await describeEachDatabase('administration commands', (database) => {
  let context: DataMachineContext;
  beforeAll(async () => {
    await migrateAll(database.db);
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
  });

  const { cli, failure } = cliRunner(() => context);

  it('lets the system create users and tenants, and users act as themselves', async () => {
    expect(await cli('users', 'create', '--email', 'owner@cli.test', '--name', 'Owner', '--as', 'system')).toMatch(/^created user owner@cli\.test \(usr_\w+\)\n$/);
    await cli('users', 'create', '--email', 'member@cli.test', '--name', 'Member', '--as', 'system');
    expect(await cli('tenants', 'create', '--slug', 'cli-co', '--name', 'CLI Co', '--as', 'owner@cli.test')).toMatch(/^created tenant cli-co/);
    expect(await cli('members', 'add', '--user', 'member@cli.test', '--role', 'author', '--as', 'owner@cli.test')).toBe('member@cli.test is author\n');
    const table = await cli('agents', 'list', '--as', 'owner@cli.test');
    expect(table.split('\n')[0]).toMatch(/^slug\s+name\s+role\s+id$/);
    expect(table).toMatch(/^default\s+.+\s+admin\s+agt_\w+$/m);
    const json = JSON.parse(await cli('tenants', 'list', '--as', 'member@cli.test', '--json')) as { slug: string; role: string }[];
    expect(json).toEqual([expect.objectContaining({ slug: 'cli-co', role: 'author' })]);
  });

  it('refuses what the product refuses, with its code: no bypass for the CLI', async () => {
    expect(await failure('users', 'create', '--email', 'x@cli.test', '--name', 'X', '--as', 'owner@cli.test')).toBe('access.denied');
    await cli('agents', 'create', '--slug', 'private', '--name', 'Private', '--as', 'owner@cli.test');
    // The author has no grant on the owner's agent: it is missing to them, so they cannot grant on it.
    expect(await failure('agents', 'grant', 'private', '--user', 'member@cli.test', '--role', 'viewer', '--as', 'member@cli.test')).toBe('agent.not_found');
    expect(await failure('agents', 'show', 'private', '--as', 'nobody@cli.test')).toBe('user.not_found');
    expect(await failure('agents', 'list', '--as', 'system')).toBe('tenant.required');
    expect(await cli('agents', 'show', 'private', '--as', 'system', '--tenant', 'cli-co')).toMatch(/^private: Private/);
  });

  it('issues an agent token once, and the token acts on the CLI within its ceiling', async () => {
    const created = await cli('agents', 'token', 'create', 'private', '--label', 'bot', '--ceiling', 'chat', '--as', 'owner@cli.test');
    const secret = /shown once, keep it\): (dmat_\S+)/.exec(created)?.[1] ?? '';
    expect(secret).not.toBe('');
    expect(await cli('agents', 'show', 'private', '--token', secret)).toMatch(/^private: /);
    expect(await failure('agents', 'create', '--slug', 'more', '--name', 'More', '--token', secret)).toBe('access.denied');
    const tokens = JSON.parse(await cli('agents', 'token', 'list', 'private', '--as', 'owner@cli.test', '--json')) as { id: string; ceiling: string }[];
    expect(tokens).toEqual([expect.objectContaining({ ceiling: 'chat' })]);
    await cli('agents', 'token', 'revoke', 'private', tokens[0]?.id ?? '', '--as', 'owner@cli.test');
    expect(await failure('agents', 'show', 'private', '--token', secret)).toBe('token.revoked');
  });

  it('answers a command line it cannot read with a usage line, before touching anything', async () => {
    expect(await failure('agents', 'list')).toBe('usage: act as someone: --as <email>, --as system, or --token <token>');
    expect(await failure('agents', 'list', '--as', 'owner@cli.test', '--token', 'dmpt_x')).toMatch(/^usage: act as someone/);
    expect(await failure('agents', 'grant', 'private', '--user', 'member@cli.test', '--role', 'boss', '--as', 'owner@cli.test')).toBe(
      'usage: --role must be one of viewer, operator, admin (got "boss")',
    );
    expect(await failure('agents', 'token', 'create', 'private', '--label', 'x', '--ceiling', 'chat,fly', '--as', 'owner@cli.test')).toMatch(/^usage: --ceiling must be one of .* \(got "fly"\)$/);
    expect(await failure('agents', 'show', '--as', 'owner@cli.test')).toBe('usage: usage: data-machine agents show <agent> [--tenant <slug>] --as <email>');
    expect(await failure('agents', 'list', '--colour', 'red', '--as', 'owner@cli.test')).toMatch(/^usage: Unknown option '--colour'/);
  });

  it('creates, lists and revokes personal tokens', async () => {
    const created = await cli('tokens', 'create', '--label', 'laptop', '--as', 'member@cli.test');
    expect(created).toMatch(/^token upt_\w+ \(shown once, keep it\): dmpt_/);
    const [token] = JSON.parse(await cli('tokens', 'list', '--as', 'member@cli.test', '--json')) as { id: string }[];
    expect(await cli('tokens', 'revoke', token?.id ?? '', '--as', 'member@cli.test')).toBe(`revoked ${token?.id ?? ''}\n`);
  });
});
