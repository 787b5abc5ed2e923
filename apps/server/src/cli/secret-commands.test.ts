import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import { createDataMachineContext, createSecretBox, handlerSecretsPurpose, readAgentSecret, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';

await describeEachDatabase<DataMachineDatabase>('secret commands', (database) => {
  let context: DataMachineContext;
  let directory: string;
  let target: { tenantId: string; agentId: string };
  const key = 'k'.repeat(40);
  const { cli, cliWithInput, failure } = cliRunner(
    () => context,
    undefined,
    (purpose) => createSecretBox(key, purpose),
  );
  const owner = ['--as', 'owner@secrets.test'] as const;
  const viewer = ['--as', 'viewer@secrets.test'] as const;
  const stored = (name: string) => readAgentSecret(context, createSecretBox(key, handlerSecretsPurpose), { ...target, name });

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    directory = await mkdtemp(path.join(tmpdir(), 'dm-secrets-'));
    await cli('users', 'create', '--email', 'owner@secrets.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'viewer@secrets.test', '--name', 'Viewer', '--as', 'system');
    const tenant = JSON.parse(await cli('tenants', 'create', '--slug', 'secrets-co', '--name', 'Secrets Co', ...owner, '--json')) as { id: string };
    await cli('members', 'add', '--user', 'viewer@secrets.test', '--role', 'editor', ...owner);
    await cli('agents', 'grant', 'default', '--user', 'viewer@secrets.test', '--role', 'viewer', ...owner);
    const agent = JSON.parse(await cli('agents', 'show', 'default', ...owner, '--json')) as { id: string };
    target = { tenantId: tenant.id, agentId: agent.id };
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('sets a secret from standard input, sealed for handlers, and never prints the value', async () => {
    const output = await cliWithInput('s3cret-from-stdin\n', 'secrets', 'set', 'default', 'wp_password', ...owner);
    expect(output).toBe('set secret wp_password of default\n');
    expect(await stored('wp_password')).toBe('s3cret-from-stdin');
    const json = await cliWithInput('again\n', 'secrets', 'set', 'default', 'wp_password', ...owner, '--json');
    expect(json).not.toContain('again');
    expect(await stored('wp_password')).toBe('again');
  });

  it('sets a secret from --value-file', async () => {
    const file = path.join(directory, 'token.txt');
    await writeFile(file, 'from-a-file\n');
    await cli('secrets', 'set', 'default', 'api_token', '--value-file', file, ...owner);
    expect(await stored('api_token')).toBe('from-a-file');
  });

  it('refuses a value given as an argument, an unreadable file and an empty value', async () => {
    expect(await failure('secrets', 'set', 'default', 'api_token', 'plain-value', ...owner)).toMatch(/^usage: usage: data-machine secrets set/);
    expect(await failure('secrets', 'set', 'default', 'api_token', '--value', 'plain-value', ...owner)).toMatch(/^usage: Unknown option '--value'/);
    expect(await failure('secrets', 'set', 'default', 'api_token', '--value-file', path.join(directory, 'missing'), ...owner)).toMatch(/^usage: cannot read --value-file .*ENOENT$/);
    expect(await failure('secrets', 'set', 'default', 'empty', ...owner)).toBe('input.invalid');
  });

  it('lists names and times, never values, for a viewer too', async () => {
    await cliWithInput('listed-value', 'secrets', 'set', 'default', 'listed', ...owner);
    const table = await cli('secrets', 'list', 'default', ...viewer);
    expect(table.split('\n')[0]).toMatch(/^name\s+created\s+updated$/);
    expect(table).toMatch(/^listed\s/m);
    const json = await cli('secrets', 'list', 'default', ...viewer, '--json');
    expect(json).not.toContain('listed-value');
    expect((JSON.parse(json) as { name: string }[]).map((secret) => secret.name)).toContain('listed');
  });

  it('lets only an agent editor set or delete; deleting a missing secret is refused', async () => {
    expect(await failure('secrets', 'delete', 'default', 'listed', ...viewer)).toBe('access.denied');
    expect(await cliWithInput('x', 'secrets', 'set', 'default', 'other', ...viewer).catch((error: { code?: string }) => error.code)).toBe('access.denied');
    expect(await cli('secrets', 'delete', 'default', 'listed', ...owner)).toBe('deleted secret listed of default\n');
    expect(await stored('listed')).toBeUndefined();
    expect(await failure('secrets', 'delete', 'default', 'listed', ...owner)).toBe('secret.not_found');
  });
});
