import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { availableBackends, createTestDatabase, type TestDatabase } from '@data-machine/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { exited, migratedDataDir, runCli, startServer, stop } from './support/server-process';

const deadline = 90_000;

// Each case proves the built binary: its wiring of configuration, database, migrations and exit codes.
// What a command does is specified in process, beside its code (src/cli/*.test.ts), on both databases.
describe('data-machine CLI (the built binary)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  /** A fresh temporary folder, removed after the file's tests. */
  const temporary = async (): Promise<string> => {
    const folder = await mkdtemp(path.join(tmpdir(), 'dm-cli-'));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    return folder;
  };

  it('answers help, an unknown command, usage errors and a bad configuration value in one line each, before it opens any database', { timeout: deadline }, async () => {
    const dataDir = path.join(await temporary(), 'never-made');
    const environment = { DM_DATA_DIR: dataDir };
    const [help, unknown, initWithoutEmail, initUnknownOption, withoutActor, badPort] = await Promise.all([
      runCli(['help'], environment),
      runCli(['dance'], environment),
      runCli(['init'], environment),
      runCli(['init', '--email', 'a@b.test', '--colour', 'red'], environment),
      runCli(['agents', 'list'], environment),
      runCli(['serve'], { ...environment, PORT: 'eighty' }),
    ]);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: data-machine \[start \| serve/);
    expect(help.stdout).toContain('\n  agents list [--tenant <slug>] --as <email>\n');
    expect(unknown).toMatchObject({ code: 2, stdout: '', stderr: "data-machine: unknown command 'dance'. Try 'data-machine help'.\n" });
    expect(initWithoutEmail).toMatchObject({ code: 2, stderr: "data-machine: init needs --email <address>. Try 'data-machine help'.\n" });
    expect(initUnknownOption.code).toBe(2);
    expect(initUnknownOption.stderr).toMatch(/^data-machine: Unknown option '--colour'.*Try 'data-machine help'.\n$/);
    expect(withoutActor).toMatchObject({ code: 2, stderr: 'data-machine: act as someone: --as <email>, --as system, or --token <token>\n' });
    expect(badPort).toMatchObject({ code: 2, stderr: 'data-machine: Invalid configuration: PORT must be a whole number from 0 to 65535 (got "eighty")\n' });
    // Nothing was opened: the embedded database would have made its folder.
    expect(existsSync(dataDir)).toBe(false);
  });

  it('says in one line that the database cannot be reached', { timeout: deadline }, async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', SECRET_KEY: 'k'.repeat(32) });
    expect(result).toMatchObject({ code: 1, stderr: 'data-machine: cannot reach the database (Postgres at 127.0.0.1:1/none)\n' });
  });

  it('migrates an empty folder into a new embedded database and exits with the migrate command', { timeout: deadline }, async () => {
    const result = await runCli(['migrate'], { DM_DATA_DIR: await temporary() });
    expect(result).toMatchObject({ code: 0, stdout: 'data-machine: migrations applied\n', stderr: '' });
  });

  it('starts on the embedded PGlite: makes the owner and prints their token and a login link once, and keeps its data and a generated secret key under DM_DATA_DIR', { timeout: deadline }, async () => {
    // A migrated database with no tenant yet. Every command runs the same migrations before it branches
    // (cli/run-server.ts); the migrate case runs them, initdb included, in a process of its own.
    const dataDir = await migratedDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { url, child, output } = await startServer({ DM_DATA_DIR: dataDir });
    cleanups.push(() => exited(child, 'SIGKILL'));
    const printed = output();
    const response = await fetch(`${url}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: { backend: 'pglite', reachable: true } });
    expect((await readFile(path.join(dataDir, 'secret-key'), 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const token = /owner token \(shown once, keep it\): (dmpt_\S+)/.exec(printed)?.[1];
    expect(token).toBeDefined();
    const me = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${String(token)}` } });
    expect(await me.json()).toMatchObject({ user: { email: 'owner@data-machine.local' }, tenants: [{ tenant: { slug: 'default' }, role: 'owner' }] });
    expect(printed).toMatch(/console login link \(one use, 15 minutes\): http:\/\/\S+\/#\/login\/dmll_\S+/);
    // Beside the running server (which holds the embedded database), login-link signs with the key alone; its link signs in once.
    const link = await runCli(['login-link', '--as', 'owner@data-machine.local'], { DM_DATA_DIR: dataDir, PUBLIC_URL: url });
    expect(link.code).toBe(0);
    const loginToken = new RegExp(`^${url}/#/login/(dmll_\\S+)\n`).exec(link.stdout)?.[1];
    expect(loginToken).toBeDefined();
    const signIn = () => fetch(`${url}/console/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ loginToken }) });
    const first = await signIn();
    expect([first.status, ((await first.json()) as { user: { email: string } }).user.email]).toEqual([201, 'owner@data-machine.local']);
    expect((await signIn()).status).toBe(401);
    expect(await runCli(['login-link'], { DM_DATA_DIR: dataDir })).toMatchObject({ code: 2, stderr: 'data-machine: login-link needs --as <email>\n' });
    expect(await stop(child)).toBe(0);
    // The data stays: a process of its own, on the same folder, finds the owner's agent (the tenant's default).
    const listed = await runCli(['agents', 'list', '--as', 'owner@data-machine.local'], { DM_DATA_DIR: dataDir });
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^default\s+.+\s+admin\s+agt_\w+$/m);
  });

  it('on Postgres: refuses an unmigrated database, initialises it once, serves, and runs administration commands with exit codes 0, 1 and 2', { timeout: deadline }, async (test) => {
    if (!(await availableBackends()).includes('postgres')) test.skip('Postgres is not reachable (allowed outside CI only)');
    const database: TestDatabase = await createTestDatabase('postgres');
    cleanups.push(() => database.destroy());
    const environment = { DATABASE_URL: String(database.url), SECRET_KEY: 'k'.repeat(32) };
    expect(await runCli(['agents', 'list', '--as', 'system'], environment)).toMatchObject({
      code: 1,
      stderr: "data-machine: the database is not migrated; run 'data-machine migrate' first\n",
    });
    const first = await runCli(['init', '--email', 'Ada@Example.test', '--tenant', 'acme'], environment);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^data-machine: created tenant "acme" owned by ada@example.test\ndata-machine: owner token \(shown once, keep it\): dmpt_[A-Za-z0-9_-]{43}\ndata-machine: console login link \(one use, 15 minutes\): http:\/\/127\.0\.0\.1:3000\/#\/login\/dmll_[\w.-]+\n$/);
    expect(await runCli(['init', '--email', 'someone@example.test'], environment)).toMatchObject({ code: 1, stderr: 'data-machine: already initialised (the database has a tenant)\n' });
    const server = await startServer(environment);
    // A process left running would hold connections and keep the database from being dropped.
    cleanups.push(() => exited(server.child, 'SIGKILL'));
    const as = ['--as', 'ada@example.test'];
    const [ready, flows, missingJob, badInstant] = await Promise.all([
      fetch(`${server.url}/ready`).then(async (response) => ({ status: response.status, json: (await response.json()) as unknown })),
      runCli(['flows', 'list', 'default', ...as], environment),
      runCli(['jobs', 'show', 'default', 'job_nope', ...as], environment),
      runCli(['jobs', 'list', 'default', '--since', 'soon', ...as], environment),
    ]);
    expect(ready).toMatchObject({ status: 200, json: { status: 'ok', database: { backend: 'postgres', reachable: true } } });
    expect(flows).toMatchObject({ code: 0, stdout: '(none)\n', stderr: '' });
    expect(missingJob).toMatchObject({ code: 1, stdout: '', stderr: 'data-machine: There is no job "job_nope".\n' });
    expect(badInstant).toMatchObject({ code: 2, stdout: '', stderr: 'data-machine: --since must be an ISO instant (got "soon")\n' });
    expect(await stop(server.child)).toBe(0);
  });
});
