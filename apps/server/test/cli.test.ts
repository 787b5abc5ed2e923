import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { availableBackends, createTestDatabase, type TestDatabase } from '@data-machine/testkit';
import { afterAll, describe, expect, it } from 'vitest';

/** The built CLI: these tests exercise what `pnpm start` runs. */
const mainScript = path.resolve(import.meta.dirname, '../dist/main.js');
const deadline = 60_000;

interface Exited {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], environment: Record<string, string>): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainScript, ...args], { env: { PATH: process.env.PATH ?? '', ...environment } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the server on a random port and resolves with its URL once it logs that it listens. */
function startServer(environment: Record<string, string>): Promise<{ url: string; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(process.execPath, [mainScript, 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...environment },
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('data machine listening')) continue;
        resolve({ url: (JSON.parse(line) as { url: string }).url, child });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => reject(new Error(`server exited with ${String(code)} before listening:\n${output}`)));
  });
}

function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('close', resolve);
    child.kill('SIGTERM');
  });
}

describe('data-machine CLI', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('is ready on the embedded PGlite, keeping its data and a generated secret key under DM_DATA_DIR', { timeout: deadline }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dm-cli-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { url, child } = await startServer({ DM_DATA_DIR: dataDir });
    const response = await fetch(`${url}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: { backend: 'pglite', reachable: true } });
    expect((await readFile(path.join(dataDir, 'secret-key'), 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await stop(child)).toBe(0);
  });

  it('is ready on Postgres when DATABASE_URL and SECRET_KEY are set', { timeout: deadline }, async (test) => {
    if (!(await availableBackends()).includes('postgres')) test.skip('Postgres is not reachable (allowed outside CI only)');
    const database: TestDatabase = await createTestDatabase('postgres');
    cleanups.push(() => database.destroy());
    const { url, child } = await startServer({ DATABASE_URL: String(database.url), SECRET_KEY: 'k'.repeat(32) });
    const response = await fetch(`${url}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: { backend: 'postgres', reachable: true } });
    expect(await stop(child)).toBe(0);
  });

  it('refuses a bad configuration value with one line and exit code 2', { timeout: deadline }, async () => {
    const result = await runCli(['serve'], { PORT: 'eighty' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('data-machine: Invalid configuration: PORT must be a whole number from 0 to 65535 (got "eighty")\n');
  });

  it('says in one line that the database cannot be reached', { timeout: deadline }, async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', SECRET_KEY: 'k'.repeat(32) });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('data-machine: cannot reach the database (Postgres at 127.0.0.1:1/none)\n');
  });

  it('rejects an unknown command with one line and exit code 2', { timeout: deadline }, async () => {
    const result = await runCli(['dance'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("data-machine: unknown command 'dance'. Try 'data-machine help'.\n");
  });

  it('migrates and exits with the migrate command', { timeout: deadline }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dm-cli-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const result = await runCli(['migrate'], { DM_DATA_DIR: dataDir });
    expect(result).toMatchObject({ code: 0, stdout: 'data-machine: migrations applied\n', stderr: '' });
  });
});
