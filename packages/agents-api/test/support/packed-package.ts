import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/** Runs a command; rejects with its output when it fails. */
export const run = promisify(execFile);

const packageDir = path.resolve(import.meta.dirname, '../..');
const repositoryRoot = path.resolve(packageDir, '../..');
const pnpm = path.join(repositoryRoot, 'node_modules/.bin/pnpm');

/** The packages a consumer project installs from their packed tarballs. */
export interface PackedTarballs {
  readonly agentsApi: string;
  readonly pgliteDialect: string;
}

/**
 * Packs `@data-machine/agents-api` and `@data-machine/pglite-dialect` into `destination`
 * as `pnpm publish` would (publishConfig applied). Packs what `dist` holds: the root
 * `test` script builds every package before it runs the tests.
 */
export async function packTarballs(destination: string): Promise<PackedTarballs> {
  await run(pnpm, ['pack', '--pack-destination', destination], { cwd: packageDir });
  await run(pnpm, ['pack', '--pack-destination', destination], { cwd: path.join(repositoryRoot, 'packages/pglite-dialect') });
  const files = await readdir(destination);
  const find = (prefix: string): string => {
    const file = files.find((name) => name.startsWith(prefix) && name.endsWith('.tgz'));
    if (file === undefined) throw new Error(`pnpm pack wrote no ${prefix}*.tgz in ${destination}`);
    return path.join(destination, file);
  };
  return { agentsApi: find('data-machine-agents-api-'), pgliteDialect: find('data-machine-pglite-dialect-') };
}

/**
 * The exact version this repository develops against, read from the package's own
 * devDependencies, so a consumer installs what the local store already holds and the
 * install needs no network when the store is warm.
 */
export async function pinnedVersion(name: string): Promise<string> {
  const manifests = ['packages/agents-api/package.json', 'packages/pglite-dialect/package.json', 'package.json'];
  for (const manifest of manifests) {
    const { devDependencies = {} } = JSON.parse(await readFile(path.join(repositoryRoot, manifest), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    const version = devDependencies[name];
    if (version !== undefined) return version;
  }
  throw new Error(`No pinned version of ${name} in ${manifests.join(', ')}`);
}

/**
 * Creates a consumer project outside the workspace with exactly `dependencies`
 * (name to version or `file:` tarball) and installs it with pnpm, preferring the
 * local store. Returns the project folder.
 */
export async function installProject(directory: string, dependencies: Readonly<Record<string, string>>): Promise<string> {
  await mkdir(directory, { recursive: true });
  await writeFile(
    path.join(directory, 'package.json'),
    JSON.stringify({ name: path.basename(directory), private: true, type: 'module', dependencies }, null, 2),
  );
  await run(pnpm, ['install', '--prefer-offline', '--ignore-workspace', '--reporter=silent'], { cwd: directory, timeout: 120_000 });
  return directory;
}
