import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import { createDataMachineContext, createSecretBox, webhookSecretsPurpose, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';

await describeEachDatabase<DataMachineDatabase>('inbound commands', (database) => {
  let context: DataMachineContext;
  let directory: string;
  const secrets = createSecretBox('c'.repeat(40), webhookSecretsPurpose);
  const { cli, failure } = cliRunner(
    () => context,
    undefined,
    () => secrets,
  );
  const owner = ['--as', 'owner@inbound.test'] as const;

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    directory = await mkdtemp(path.join(tmpdir(), 'dm-inbound-'));
    const pipeline = {
      slug: 'inbox',
      name: 'Inbox',
      steps: [
        { key: 'files', type: 'fetch', handler: 'files' },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'docs' } },
      ],
    };
    const documentFile = path.join(directory, 'inbox.json');
    await writeFile(documentFile, JSON.stringify({ format: 'data-machine.pipeline', version: 1, pipeline, flows: [{ slug: 'inbox', name: 'Inbox' }] }));
    await cli('users', 'create', '--email', 'owner@inbound.test', '--name', 'Owner', '--as', 'system');
    await cli('tenants', 'create', '--slug', 'inbound-co', '--name', 'Inbound Co', ...owner);
    await cli('pipelines', 'import', 'default', '--file', documentFile, ...owner);
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("rotates a flow's webhook secret and prints it once, with where to POST", async () => {
    const output = await cli('flows', 'webhook', 'rotate', 'default', 'inbox', ...owner);
    expect(output).toMatch(/^webhook secret \(shown once\): whsec_\S+\nPOST signed deliveries to \/hooks\/flows\/\w+\n$/);
    expect(await failure('flows', 'webhook', 'rotate', 'default', 'nope', ...owner)).toBe('flow.not_found');
  });

  it('uploads a file with its type guessed from the extension, and lists it', async () => {
    const file = path.join(directory, 'notes.md');
    await writeFile(file, '# notes');
    expect(await cli('flows', 'files', 'upload', 'default', 'inbox', file, ...owner)).toMatch(/^uploaded notes\.md \(7 bytes\) as file_\w+\n$/);
    const listed = JSON.parse(await cli('flows', 'files', 'list', 'default', 'inbox', ...owner, '--json')) as { name: string; contentType: string }[];
    expect(listed.map((entry) => [entry.name, entry.contentType])).toEqual([['notes.md', 'text/markdown']]);
  });
});
