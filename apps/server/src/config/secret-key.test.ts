import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from './config';
import { resolveSecretKey } from './secret-key';

describe('the secret key', () => {
  const directories: string[] = [];
  const dataDir = async (): Promise<string> => {
    const directory = await mkdtemp(path.join(tmpdir(), 'dm-secret-'));
    directories.push(directory);
    return directory;
  };
  afterEach(async () => {
    for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
  });

  it('is the configured one when SECRET_KEY is set', async () => {
    expect(await resolveSecretKey({ kind: 'given', key: 'k'.repeat(40) })).toBe('k'.repeat(40));
  });

  it('is generated once on the embedded start, kept readable only by its owner, and reused afterwards', async () => {
    const file = path.join(await dataDir(), 'nested', 'secret-key');
    const first = await resolveSecretKey({ kind: 'file', path: file });
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await resolveSecretKey({ kind: 'file', path: file })).toBe(first);
    expect((await readFile(file, 'utf8')).trim()).toBe(first);
  });

  it('is the same for two starts racing on an empty data directory', async () => {
    const file = path.join(await dataDir(), 'secret-key');
    const [one, two] = await Promise.all([resolveSecretKey({ kind: 'file', path: file }), resolveSecretKey({ kind: 'file', path: file })]);
    expect(one).toBe(two);
  });

  it('refuses a kept key that is too short, with a line saying what to do', async () => {
    const file = path.join(await dataDir(), 'secret-key');
    await writeFile(file, 'short\n');
    await expect(resolveSecretKey({ kind: 'file', path: file })).rejects.toThrow(ConfigError);
    await expect(resolveSecretKey({ kind: 'file', path: file })).rejects.toThrow(/at least 32 characters; remove the file/);
  });
});
