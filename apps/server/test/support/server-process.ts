import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

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

let migratedTemplate: Promise<string> | undefined;

/**
 * A fresh `DM_DATA_DIR` holding an embedded database that is already
 * migrated (and empty: no tenant yet), copied from a template this test file
 * makes once with the built CLI's `migrate`. Starting the binary on a copy
 * skips PGlite's initdb and the migrations, most of a first start's time on
 * a busy machine; the first-start behaviour (owner, token) is unchanged. The
 * copy and, at exit, the template are removed by the caller's cleanup and
 * {@link removeMigratedTemplate}.
 */
export async function migratedDataDir(): Promise<string> {
  migratedTemplate ??= (async () => {
    const template = await mkdtemp(path.join(tmpdir(), 'dm-template-'));
    const migrated = await runCli(['migrate'], { DM_DATA_DIR: template });
    if (migrated.code !== 0) throw new Error(`could not migrate the template data directory: ${migrated.stderr}`);
    return template;
  })();
  const copy = await mkdtemp(path.join(tmpdir(), 'dm-copy-'));
  await cp(await migratedTemplate, copy, { recursive: true });
  return copy;
}

/** Removes the template {@link migratedDataDir} made, if any (call once, after the file's tests). */
export async function removeMigratedTemplate(): Promise<void> {
  if (migratedTemplate === undefined) return;
  await rm(await migratedTemplate, { recursive: true, force: true });
  migratedTemplate = undefined;
}
