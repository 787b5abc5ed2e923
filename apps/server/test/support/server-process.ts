import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unpackPgliteDataDir } from '@data-machine/testkit';
import { inject } from 'vitest';

/** The built CLI: these tests exercise what `pnpm start` runs. */
export const mainScript = path.resolve(import.meta.dirname, '../../dist/main.js');

/** How a finished command ended. */
export interface Exited {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI to its end with only `environment` (and PATH). */
export function runCli(args: readonly string[], environment: Record<string, string>, stdin = ''): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainScript, ...args], { env: { PATH: process.env.PATH ?? '', ...environment } });
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A running server process; `output()` is everything it wrote so far. */
export interface ServerProcess {
  /** Where its HTTP API listens; empty in the modes without one (`worker`, `scheduler`). */
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves once the process has written a line containing `text`. */
  printed(text: string): Promise<void>;
}

/** Starts the server in `mode` on a random port and resolves once it logs that it listens (or, without HTTP, that it runs). */
export function startServer(environment: Record<string, string>, mode = 'serve'): Promise<ServerProcess> {
  const child = spawn(process.execPath, [mainScript, mode], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...environment },
  });
  let output = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onOutput = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of waiters.splice(0)) {
      if (output.includes(waiter.text)) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const printed = (text: string): Promise<void> =>
    new Promise((resolve) => {
      if (output.includes(text)) resolve();
      else waiters.push({ text, resolve });
    });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => reject(new Error(`server exited with ${String(code)} before listening:\n${output}`)));
    const http = mode === 'serve' || mode === 'start';
    const ready = http ? 'data machine listening' : 'data machine running';
    void printed(ready).then(() => {
      const line = output.split('\n').find((candidate) => candidate.includes(ready)) as string;
      resolve({ url: http ? (JSON.parse(line) as { url: string }).url : '', child, output: () => output, printed });
    });
  });
}

/** Resolves with the exit code once the process has closed (after `signal`, when given). */
export function exited(child: ChildProcessWithoutNullStreams, signal?: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.on('close', resolve);
    if (signal !== undefined) child.kill(signal);
  });
}

/** Sends SIGTERM and resolves with the exit code. */
export function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return exited(child, 'SIGTERM');
}

/**
 * A fresh `DM_DATA_DIR` holding an embedded database that is already
 * migrated (and empty: no tenant yet): the project's migrated template (made
 * once per run by test/support/global-setup.ts) unpacked as the `pglite`
 * folder the CLI opens. Starting the binary on it skips PGlite's initdb and
 * the migrations, most of a first start's time on a busy machine (a fresh
 * `migrate` took 15 to 20 s beside other work, unpacking takes 0.2 s); the
 * first-start behaviour (owner, token) is unchanged. The caller removes it.
 */
export async function migratedDataDir(): Promise<string> {
  const template = inject('databaseTemplate');
  if (template === undefined) throw new Error("no migrated template: run this file with the server project's global setup (apps/server/vitest.config.ts)");
  return unpackedDataDir(template.pgliteDataDir);
}

async function unpackedDataDir(dump: string): Promise<string> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'dm-data-'));
  await unpackPgliteDataDir(dump, path.join(dataDir, 'pglite'));
  return dataDir;
}
