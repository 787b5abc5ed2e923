import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { availableBackends, createTestDatabase, type TestDatabase } from '@data-machine/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { initialisedDataDir, migratedDataDir, runCli, startServer, stop } from './support/server-process';

const deadline = 60_000;

describe('data-machine CLI', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  /** A data directory from `make`, removed after the file's tests. */
  const removedAfter = async (make: () => Promise<string>): Promise<string> => {
    const dataDir = await make();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    return dataDir;
  };
  /** A migrated, empty data directory (a copy of the run's template): what a first start does besides migrating, without PGlite's initdb and the migrations each time. */
  const migratedCopy = (): Promise<string> => removedAfter(migratedDataDir);
  /** An initialised database with no schema yet: a first start's migrations without PGlite's initdb, which the migrate test covers. */
  const initialisedCopy = (): Promise<string> => removedAfter(initialisedDataDir);

  it('is ready on the embedded PGlite, keeping its data and a generated secret key under DM_DATA_DIR', { timeout: deadline }, async () => {
    const dataDir = await initialisedCopy();
    const { url, child, output } = await startServer({ DM_DATA_DIR: dataDir });
    const printed = output();
    const response = await fetch(`${url}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', database: { backend: 'pglite', reachable: true } });
    expect((await readFile(path.join(dataDir, 'secret-key'), 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The first start made an owner and showed their token once; it works.
    const token = /owner token \(shown once, keep it\): (dmpt_\S+)/.exec(printed)?.[1];
    expect(token).toBeDefined();
    const me = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${String(token)}` } });
    expect(await me.json()).toMatchObject({ user: { email: 'owner@data-machine.local' }, tenants: [{ tenant: { slug: 'default' }, role: 'owner' }] });
    expect(await stop(child)).toBe(0);
    // A second start on the same data finds its tenant and shows no token.
    const again = await startServer({ DM_DATA_DIR: dataDir });
    expect(again.output()).not.toContain('owner token');
    expect(await stop(again.child)).toBe(0);
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

  it('initialises an empty database once with init, printing the owner token; a second init refuses', { timeout: deadline }, async () => {
    const dataDir = await migratedCopy();
    const first = await runCli(['init', '--email', 'Ada@Example.test', '--tenant', 'acme'], { DM_DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^data-machine: created tenant "acme" owned by ada@example.test\ndata-machine: owner token \(shown once, keep it\): dmpt_[A-Za-z0-9_-]{43}\ndata-machine: console login link \(one use, 15 minutes\): http:\/\/127\.0\.0\.1:3000\/#\/login\/dmll_[\w.-]+\n$/);
    const second = await runCli(['init', '--email', 'someone@example.test'], { DM_DATA_DIR: dataDir });
    expect(second).toMatchObject({ code: 1, stderr: 'data-machine: already initialised (the database has a tenant)\n' });
    // Administration commands act as a named user, with exit codes 0, 1 (refused) and 2 (usage).
    const listed = await runCli(['agents', 'list', '--as', 'ada@example.test'], { DM_DATA_DIR: dataDir });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^default\s+.+\s+admin\s+agt_\w+$/m);
    expect(await runCli(['agents', 'show', 'nope', '--as', 'ada@example.test'], { DM_DATA_DIR: dataDir })).toMatchObject({ code: 1, stderr: 'data-machine: There is no agent "nope".\n' });
    expect((await runCli(['agents', 'list'], { DM_DATA_DIR: dataDir })).code).toBe(2);
  });

  it('runs the automation commands with exit codes 0, 1 (refused) and 2 (usage)', { timeout: deadline }, async (test) => {
    if (!(await availableBackends()).includes('postgres')) test.skip('Postgres is not reachable (allowed outside CI only)');
    const database: TestDatabase = await createTestDatabase('postgres');
    cleanups.push(() => database.destroy());
    const environment = { DATABASE_URL: String(database.url), SECRET_KEY: 'k'.repeat(32) };
    expect((await runCli(['init', '--email', 'ops@example.test'], environment)).code).toBe(0);
    const as = ['--as', 'ops@example.test'];
    expect(await runCli(['flows', 'list', 'default', ...as], environment)).toMatchObject({ code: 0, stdout: '(none)\n' });
    expect(await runCli(['jobs', 'show', 'default', 'job_nope', ...as], environment)).toMatchObject({ code: 1, stderr: 'data-machine: There is no job "job_nope".\n' });
    expect(await runCli(['jobs', 'list', 'default', '--since', 'soon', ...as], environment)).toMatchObject({ code: 2, stderr: 'data-machine: --since must be an ISO instant (got "soon")\n' });
  });

  it('refuses an administration command on a database that is not migrated, in one line', { timeout: deadline }, async () => {
    const dataDir = await initialisedCopy();
    expect(await runCli(['agents', 'list', '--as', 'system'], { DM_DATA_DIR: dataDir })).toMatchObject({
      code: 1,
      stderr: "data-machine: the database is not migrated; run 'data-machine migrate' first\n",
    });
  });

  it('prints a console login link beside a running embedded server, which signs its user in once', { timeout: deadline }, async () => {
    const dataDir = await migratedCopy();
    const { url, child, output } = await startServer({ DM_DATA_DIR: dataDir });
    expect(output()).toMatch(/console login link \(one use, 15 minutes\): http:\/\/\S+\/#\/login\/dmll_\S+/);
    const printed = await runCli(['login-link', '--as', 'owner@data-machine.local'], { DM_DATA_DIR: dataDir, PUBLIC_URL: url });
    expect(printed.code).toBe(0);
    const token = new RegExp(`^${url}/#/login/(dmll_\\S+)\n`).exec(printed.stdout)?.[1];
    expect(token).toBeDefined();
    const signIn = () => fetch(`${url}/console/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ loginToken: token }) });
    const first = await signIn();
    expect([first.status, ((await first.json()) as { user: { email: string } }).user.email]).toEqual([201, 'owner@data-machine.local']);
    expect((await signIn()).status).toBe(401);
    expect(await runCli(['login-link'], { DM_DATA_DIR: dataDir })).toMatchObject({ code: 2, stderr: 'data-machine: login-link needs --as <email>\n' });
    expect(await stop(child)).toBe(0);
  });

  it('answers init without --email, or with an unknown option, with one usage line and exit code 2', { timeout: deadline }, async () => {
    expect(await runCli(['init'], {})).toMatchObject({ code: 2, stderr: "data-machine: init needs --email <address>. Try 'data-machine help'.\n" });
    const unknown = await runCli(['init', '--email', 'a@b.test', '--colour', 'red'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^data-machine: Unknown option '--colour'.*Try 'data-machine help'.\n$/);
  });

  it('refuses init with a malformed email in one line, writing nothing', { timeout: deadline }, async () => {
    const dataDir = await migratedCopy();
    const result = await runCli(['init', '--email', 'not-an-email'], { DM_DATA_DIR: dataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^data-machine: .*email.*\n$/);
    expect((await runCli(['init', '--email', 'ok@example.test'], { DM_DATA_DIR: dataDir })).code).toBe(0);
  });

  it('migrates and exits with the migrate command', { timeout: deadline }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'dm-cli-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const result = await runCli(['migrate'], { DM_DATA_DIR: dataDir });
    expect(result).toMatchObject({ code: 0, stdout: 'data-machine: migrations applied\n', stderr: '' });
  });
});
