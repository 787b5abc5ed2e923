import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// One browser session against one built server (`start` on a temporary PGlite), as README command 1 runs it.
// Starting Chromium and the server takes seconds: the process tests of apps/server allow the same.
const deadline = 90_000;
const chromiumPath = process.env.DM_CHROMIUM ?? '/usr/bin/chromium';
const serverMain = path.resolve(import.meta.dirname, '../../server/dist/main.js');
const consoleIndex = path.resolve(import.meta.dirname, '../dist/index.html');
/** Screenshots of each page, for a reviewer to look at. */
const outputDir = path.resolve(import.meta.dirname, '../test-output/e2e');
const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A free loopback port: the server prints its login link with its address, so the port is chosen first. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts the built server and resolves with the login link its first start prints for the owner. */
function startServer(environment: Record<string, string>): Promise<{ child: ChildProcessWithoutNullStreams; loginLink: string; ownerToken: string; output: () => string }> {
  const child = spawn(process.execPath, [serverMain, 'start'], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...environment } });
  let output = '';
  return new Promise((resolve, reject) => {
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const link = /console login link \(one use, 15 minutes\): (\S+)/.exec(output)?.[1];
      const token = /owner token \(shown once, keep it\): (\S+)/.exec(output)?.[1];
      if (link !== undefined && token !== undefined && output.includes('data machine listening')) resolve({ child, loginLink: link, ownerToken: token, output: () => output });
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('close', (code) => reject(new Error(`the server exited with ${String(code)} before listening:\n${output}`)));
  });
}

describe('the web console in a browser', () => {
  let model: ModelServer;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let browser: BrowserContext;
  let page: Page;
  let dataDir: string;
  let profileDir: string;

  beforeAll(async () => {
    if (!existsSync(serverMain) || !existsSync(consoleIndex)) throw new Error('build the server and the console first (pnpm -r run build)');
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: scripts/check.sh installs the Debian package`);
    await mkdir(outputDir, { recursive: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'dm-console-e2e-data-'));
    profileDir = await mkdtemp(path.join(tmpdir(), 'dm-console-e2e-profile-'));
    model = await startModelServer({ handler: () => textReply('Hello from your new agent. How can I help?', { chunkDelayMs: 5 }) });
    const port = await freePort();
    server = await startServer({ DM_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'test-key' });
    browser = await chromium.launchPersistentContext(profileDir, { executablePath: chromiumPath, headless: true, args: chromiumFlags, viewport: { width: 1280, height: 800 } });
    page = browser.pages()[0] ?? (await browser.newPage());
  }, deadline);

  afterAll(async () => {
    await browser?.close();
    if (server && server.child.exitCode === null) {
      const closed = new Promise((resolve) => server?.child.once('close', resolve));
      server.child.kill('SIGTERM');
      await closed;
    }
    await model?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(profileDir, { recursive: true, force: true });
  }, deadline);

  const shot = (name: string) => page.screenshot({ path: path.join(outputDir, `${name}.png`), fullPage: true });

  it('signs in with the first start login link, creates an agent and chats with it over a streamed answer', { timeout: deadline }, async () => {
    const loginLink = server?.loginLink as string;
    await page.goto(loginLink);
    await page.getByRole('button', { name: 'Sign in with this link' }).waitFor();
    await shot('1-sign-in');
    await page.getByRole('button', { name: 'Sign in with this link' }).click();

    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    await page.getByRole('cell', { name: 'default', exact: true }).waitFor();
    expect(await page.getByRole('row').filter({ hasText: 'default' }).textContent()).toContain('admin');
    await shot('2-agents');

    await page.getByLabel('Slug').fill('helper');
    await page.getByLabel('Name').fill('Helper');
    await page.getByLabel('Instructions').fill('Answer briefly.');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('link', { name: 'Helper' }).click();
    await page.getByRole('heading', { name: 'Helper' }).waitFor();
    await shot('3-agent');

    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByLabel('Message').fill('Hello?');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('assistant-message').filter({ hasText: 'Hello from your new agent. How can I help?' }).waitFor();
    await page.getByRole('button', { name: 'Stop' }).and(page.locator('[disabled]')).waitFor();
    await shot('4-chat');
    expect(model.completionRequests().at(-1)?.stream).toBe(true);

    await page.goto(`${new URL(loginLink).origin}/#/agents/helper/flows`);
    await page.getByText('No flows yet.').waitFor();
    await shot('5-flows');
    await page.goto(`${new URL(loginLink).origin}/#/agents/helper/jobs`);
    await page.getByText('No jobs yet: run a flow.').waitFor();
    await shot('6-jobs');

  });

  it('runs a flow from the flows page and follows its job to completion, with its log', { timeout: deadline }, async () => {
    // The flow builder is not in the console yet: the pipeline and flow are made over the API with the owner token.
    const origin = new URL(server?.loginLink as string).origin;
    const call = async (url: string, body: unknown) => {
      const response = await fetch(`${origin}${url}`, { method: 'POST', headers: { authorization: `Bearer ${server?.ownerToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status, await response.clone().text()).toBe(201);
    };
    await call('/agents/helper/pipelines', {
      slug: 'copy',
      name: 'Copy',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
      ],
    });
    await call('/agents/helper/flows', { pipeline: 'copy', slug: 'main', name: 'Main', stepConfig: { fetch: { handlerConfig: { items: [{ id: 'one', title: 'The first item' }] } } } });

    await page.goto(`${origin}/#/agents/helper/flows`);
    const row = page.getByRole('row').filter({ hasText: 'main' });
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByRole('button', { name: 'Resume' }).waitFor();
    await shot('8-flows-paused');
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByRole('button', { name: 'Pause' }).waitFor();
    await row.getByRole('button', { name: 'Run now' }).click();

    await page.getByRole('heading', { name: /^Job / }).waitFor();
    await page.locator('.facts .badge-completed').waitFor();
    await page.getByText('job completed').waitFor();
    await shot('9-job');
    await page.goto(`${origin}/#/agents/helper/jobs`);
    await page.locator('.table .badge-completed').waitFor();
    await shot('10-jobs');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Data Machine' }).waitFor();
  });

  it('refuses the login link a second time, in plain words with the code', { timeout: deadline }, async () => {
    await page.goto(server?.loginLink as string);
    await page.getByRole('button', { name: 'Sign in with this link' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('login_link.used');
    await shot('7-link-used');
  });
});
