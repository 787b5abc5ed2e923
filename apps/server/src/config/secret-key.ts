import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type SecretKeySource } from './config';

/**
 * The server's secret key: the configured one, or the one kept in the data
 * directory, generated (256 random bits, file mode 0600) on the first
 * embedded start. Two processes starting at once agree: the key is written
 * whole to a private file, then linked into place (atomic, and refused when
 * the name exists), so the loser reads the winner's complete key.
 *
 * @throws ConfigError when the kept file cannot be read or holds too short a key.
 */
export async function resolveSecretKey(source: SecretKeySource): Promise<string> {
  if (source.kind === 'given') return source.key;
  const existing = await readKeyFile(source.path);
  if (existing !== undefined) return existing;
  await mkdir(path.dirname(source.path), { recursive: true });
  const key = randomBytes(32).toString('base64url');
  const draft = `${source.path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(draft, `${key}\n`, { mode: 0o600, flag: 'wx' });
    await link(draft, source.path);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw keyFileError(source.path, error);
    return (await readKeyFile(source.path)) ?? key;
  } finally {
    await rm(draft, { force: true });
  }
}

async function readKeyFile(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw keyFileError(file, error);
  }
  const key = text.trim();
  if (key.length < 32) throw new ConfigError([`the secret key in ${file} must be at least 32 characters; remove the file to generate a new one`]);
  return key;
}

function keyFileError(file: string, error: unknown): ConfigError {
  return new ConfigError([`the secret key file ${file} cannot be used (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`]);
}
