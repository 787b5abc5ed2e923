import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { preparePgliteDataDir, startModelServer, textReply, toolCallReply, unpackPgliteDataDir, type ChatCompletionRequest, type ModelReply, type ModelServer } from '@data-machine/testkit';
import { chromium, type BrowserContext, type Page, type Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// One browser session against one built server (`start` on a temporary PGlite), as README command 1 runs it.
// Starting Chromium and the server takes seconds: the process tests of apps/server allow the same.
const deadline = 90_000;
// Three starts of the embedded database (migrate, the viewer's creation, the server): on a machine shared by busy builds, over a minute.
const setupDeadline = 240_000;
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

/** Runs one command of the built server's CLI to its end and resolves with what it printed. */
function cli(environment: Record<string, string>, ...args: string[]): Promise<string> {
  const child = spawn(process.execPath, [serverMain, ...args], { env: { PATH: process.env.PATH ?? '', ...environment } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`data-machine ${args.join(' ')} exited with ${String(code)}:\n${output}`)))));
}

/**
 * The agent's answer in chat: a call of the chat's `list_flows` tool, then a
 * streamed text once its result is in; in a flow's ai step (offered a publish
 * tool), a call of that tool, then a short end once its result (or refusal) is in.
 */
function scriptedModel(request: ChatCompletionRequest): ModelReply {
  const tools = (request.tools as { function: { name: string } }[] | undefined)?.map((tool) => tool.function.name) ?? [];
  const publish = tools.find((name) => name.startsWith('publish_'));
  const afterTool = request.messages.at(-1)?.role === 'tool';
  if (publish === undefined) {
    if (tools.includes('list_flows') && !afterTool) return toolCallReply({ name: 'list_flows', arguments: {} });
    return textReply('Hello from your new agent. How can I help?', { chunkDelayMs: 5 });
  }
  if (afterTool) return textReply('Published.');
  return toolCallReply({ name: publish, arguments: { title: 'Launch notes', content: 'We shipped.' } });
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

/**
 * Runs in the page: the form fields, buttons and links that have no
 * accessible name (no label, aria-label, aria-labelledby or text), as HTML.
 */
function unnamedControls(): string[] {
  const named = (element: HTMLElement): boolean => {
    if ((element.getAttribute('aria-label') ?? '').trim() !== '') return true;
    const labelledBy = element.getAttribute('aria-labelledby');
    if (labelledBy && labelledBy.split(/\s+/).some((id) => (document.getElementById(id)?.textContent ?? '').trim() !== '')) return true;
    if (element instanceof HTMLInputElement || element instanceof HTMLSelectElement || element instanceof HTMLTextAreaElement) {
      return [...(element.labels ?? [])].some((label) => (label.textContent ?? '').trim() !== '');
    }
    return (element.textContent ?? '').trim() !== '' || (element.getAttribute('title') ?? '').trim() !== '';
  };
  return [...document.querySelectorAll<HTMLElement>('input:not([type="hidden"]), select, textarea, button, a[href]')].filter((element) => !named(element)).map((element) => element.outerHTML.slice(0, 120));
}

describe('the web console in a browser', () => {
  let model: ModelServer;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let browser: BrowserContext;
  let page: Page;
  let dataDir: string;
  let profileDir: string;
  let environment: Record<string, string>;
  let viewerId: string;
  /** Chromium starts while the database is prepared. */
  let launching: Promise<BrowserContext> | undefined;

  beforeAll(async () => {
    if (!existsSync(serverMain) || !existsSync(consoleIndex)) throw new Error('build the server and the console first (pnpm -r run build)');
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: scripts/check.sh installs the Debian package`);
    await mkdir(outputDir, { recursive: true });
    dataDir = await mkdtemp(path.join(tmpdir(), 'dm-console-e2e-data-'));
    profileDir = await mkdtemp(path.join(tmpdir(), 'dm-console-e2e-profile-'));
    model = await startModelServer({ handler: scriptedModel });
    const port = await freePort();
    environment = { DM_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'test-key' };
    launching = chromium.launchPersistentContext(profileDir, { executablePath: chromiumPath, headless: true, args: chromiumFlags, viewport: { width: 1280, height: 800 } });
    // An initialised cluster to migrate, as PGlite's initdb would leave it: initdb is most of a first start's time on a busy machine.
    await unpackPgliteDataDir(await preparePgliteDataDir(), path.join(dataDir, 'pglite'));
    // The viewer exists before the first start (the embedded database has one process at a time); the owner lets them in later, over the API.
    await cli(environment, 'migrate');
    viewerId = (JSON.parse(await cli(environment, 'users', 'create', '--email', 'viewer@e2e.test', '--name', 'Vera Viewer', '--as', 'system', '--json')) as { id: string }).id;
    server = await startServer(environment);
    browser = await launching;
    page = browser.pages()[0] ?? (await browser.newPage());
  }, setupDeadline);

  afterAll(async () => {
    await (await launching?.catch(() => undefined))?.close();
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
  const origin = () => new URL(server?.loginLink as string).origin;

  /** One API request as the owner (their first start token); resolves with the body of its 2xx answer. */
  async function owner(method: string, address: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${origin()}${address}`, {
      method,
      headers: { authorization: `Bearer ${server?.ownerToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(address.endsWith('/run') ? { 'idempotency-key': randomUUID() } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    expect(response.ok, `${method} ${address}: ${text}`).toBe(true);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** Runs a flow of the publisher and resolves once its publish call waits for a decision (or fails with what the job did instead). */
  async function runAndAwaitApproval(flow: string): Promise<{ id: string; jobId: string }> {
    const before = new Set(((await owner('GET', '/approvals?status=pending')) as { approvals: { id: string }[] }).approvals.map((approval) => approval.id));
    const job = (await owner('POST', `/agents/publisher/flows/${flow}/run`, {})) as { id: string };
    for (let poll = 0; poll < 150; poll += 1) {
      const { approvals } = (await owner('GET', '/approvals?status=pending')) as { approvals: { id: string; jobId: string }[] };
      const created = approvals.find((approval) => !before.has(approval.id));
      if (created) return created;
      const { status } = (await owner('GET', `/agents/publisher/jobs/${job.id}`)) as { status: string };
      if (['completed', 'completed_no_items', 'failed', 'cancelled', 'skipped'].includes(status)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const seen = { job: await owner('GET', `/agents/publisher/jobs/${job.id}`), children: await owner('GET', `/agents/publisher/jobs/${job.id}/children`), logs: await owner('GET', `/agents/publisher/jobs/${job.id}/logs`) };
    throw new Error(`the run of ${flow} asked for no approval:\n${JSON.stringify(seen, null, 2)}`);
  }

  /**
   * Presses Tab from the top of the page until the focus comes round again,
   * and tells which visible controls it never reached and which it reached
   * without a visible focus style (an outline or a box shadow).
   */
  async function tabThrough(): Promise<{ missed: string[]; withoutFocusStyle: string[] }> {
    const controls = await page.evaluate(() => {
      const selector = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
      const found = [...document.querySelectorAll<HTMLElement>(selector)].filter((element) => element.getClientRects().length > 0);
      found.forEach((element, index) => element.setAttribute('data-tab-check', String(index)));
      return found.map((element) => element.outerHTML.slice(0, 100));
    });
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const reached = new Set<number>();
    const withoutFocusStyle: string[] = [];
    // A date field takes four presses (day, month, year, picker): room for each control to take them.
    for (let press = 0; press < controls.length * 4 + 3; press += 1) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const element = document.activeElement as HTMLElement | null;
        if (!element || element === document.body) return undefined;
        const style = getComputedStyle(element);
        const visible = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
        return { index: Number(element.getAttribute('data-tab-check') ?? -1), visible, html: element.outerHTML.slice(0, 100) };
      });
      if (focused === undefined) continue;
      reached.add(focused.index);
      if (!focused.visible) withoutFocusStyle.push(focused.html);
    }
    return { missed: controls.filter((_, index) => !reached.has(index)), withoutFocusStyle: [...new Set(withoutFocusStyle)] };
  }

  it('signs in with the first start login link, creates an agent and chats with it over a streamed answer after a tool step', { timeout: deadline }, async () => {
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
    // The model looked the agent's flows up first: the tool step shows, done.
    const toolStep = page.locator('.tool-step').filter({ hasText: 'list_flows' });
    await toolStep.waitFor();
    expect(await toolStep.locator('summary').textContent()).toContain('(done)');
    await shot('4-chat');
    expect(model.completionRequests().at(-1)?.stream).toBe(true);

    await page.goto(`${origin()}/#/agents/helper/flows`);
    await page.getByText('No flows yet.').waitFor();
    await shot('5-flows');
    await page.goto(`${origin()}/#/agents/helper/jobs`);
    await page.getByText('No jobs yet: run a flow.').waitFor();
    await shot('6-jobs');
  });

  it('builds a pipeline and its flow in the console, runs the flow from the flows page and follows its job to completion, with its log', { timeout: deadline }, async () => {
    // The pipeline, built in the console's pipeline builder: a fetch of one JSON item, stored as a record.
    await page.goto(`${origin()}/#/agents/helper/flows`);
    await page.getByRole('link', { name: 'New pipeline' }).click();
    const builder = page.getByRole('form', { name: 'Pipeline builder' });
    await builder.getByLabel('Pipeline slug').fill('copy');
    await builder.getByLabel('Pipeline name').fill('Copy');
    await builder.getByLabel('New step type').selectOption('fetch');
    await builder.getByRole('button', { name: 'Add step' }).click();
    const fetchStep = builder.getByRole('listitem', { name: 'Step 1: fetch' });
    await fetchStep.getByLabel('Handler').selectOption('json_items');
    await fetchStep.getByLabel(/^items .*\(JSON\)$/).fill(JSON.stringify([{ id: 'one', title: 'The first item' }]));
    await builder.getByLabel('New step type').selectOption('publish');
    await builder.getByRole('button', { name: 'Add step' }).click();
    const storeStep = builder.getByRole('listitem', { name: 'Step 2: publish' });
    await storeStep.getByLabel('Step key').fill('store');
    const stored = builder.getByRole('listitem', { name: 'Step 2: store' });
    await stored.getByLabel('Handler').selectOption('records');
    await stored.getByLabel('collection (required)').fill('notes');
    await shot('8-pipeline-builder');
    await builder.getByRole('button', { name: 'Save pipeline' }).click();

    // Its flow, made on the flows page, opens in the flow editor.
    const newFlow = page.getByRole('form', { name: 'New flow' });
    await newFlow.getByLabel('Pipeline').selectOption('copy');
    await newFlow.getByLabel('Flow slug').fill('main');
    await newFlow.getByLabel('Flow name').fill('Main');
    await newFlow.getByRole('button', { name: 'Create flow' }).click();
    await page.getByRole('button', { name: 'Run now' }).waitFor();
    await page.getByRole('form', { name: 'Flow editor' }).waitFor();
    await shot('8-flow-editor');

    await page.goto(`${origin()}/#/agents/helper/flows`);
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
    // The records handler reports no effect on another system: the job page says so.
    await page.getByText('No effects recorded: no handler of this job reported a change on another system.').waitFor();
    await shot('9-job');
    await page.goto(`${origin()}/#/agents/helper/jobs`);
    await page.locator('.table .badge-completed').waitFor();
    await shot('10-jobs');
  });

  it('waits for a person before a publish tool on preview runs, and resumes the job without moving the page once it is approved in the inbox', { timeout: deadline }, async () => {
    // An agent whose publish tool needs approval: its ai step calls `publish_store`, which waits as a pending action.
    await owner('POST', '/agents', { slug: 'publisher', name: 'Publisher', config: { toolPolicy: { allowAutonomousWrites: true }, toolModes: { tools: { publish_store: 'preview' } } } });
    await owner('POST', '/agents/publisher/pipelines', {
      slug: 'announce',
      name: 'Announce',
      steps: [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'write', type: 'ai', config: { prompt: 'Publish a short note about this item.' } },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
      ],
    });
    // Two flows (an item is published once per flow): the owner approves the first's action here; the second's stays pending for the viewer's visit.
    for (const slug of ['launch', 'recap']) {
      await owner('POST', '/agents/publisher/flows', { pipeline: 'announce', slug, name: slug, stepConfig: { fetch: { handlerConfig: { items: [{ id: slug, title: `The ${slug}` }] } } } });
    }
    const first = await runAndAwaitApproval('launch');
    await runAndAwaitApproval('recap');

    // The job's page, watched for layout shifts while its status goes live from waiting to completed.
    await page.goto(`${origin()}/#/agents/publisher/jobs/${first.jobId}`);
    await page.locator('.facts .badge-waiting').waitFor();
    await page.getByText('No children.').waitFor();
    await page.getByText('No effects recorded: no handler of this job reported a change on another system.').waitFor();
    await page.getByText('waiting for a signal').waitFor();
    await page.evaluate(() => {
      const shifts: { value: number; sources: string[] }[] = [];
      (window as unknown as { layoutShifts: typeof shifts }).layoutShifts = shifts;
      new PerformanceObserver((list) => {
        type Source = { node?: Node | null; previousRect: DOMRectReadOnly; currentRect: DOMRectReadOnly };
        const describe = ({ node, previousRect, currentRect }: Source) => {
          const element = node instanceof Element ? node : node?.parentElement;
          const where = `${JSON.stringify([previousRect.x, previousRect.y, previousRect.width, previousRect.height])} -> ${JSON.stringify([currentRect.x, currentRect.y, currentRect.width, currentRect.height])}`;
          return `${node instanceof Element ? '' : `text "${node?.textContent ?? ''}" in `}${element?.outerHTML.slice(0, 120) ?? '?'} ${where}`;
        };
        for (const entry of list.getEntries() as unknown as { value: number; hadRecentInput: boolean; sources?: Source[] }[]) {
          if (!entry.hadRecentInput) shifts.push({ value: entry.value, sources: (entry.sources ?? []).map(describe) });
        }
      }).observe({ type: 'layout-shift' });
    });
    await shot('11-job-waiting');

    // The inbox, in a second tab of the same session: accept the first run's action.
    const inbox = await browser.newPage();
    try {
      await inbox.goto(`${origin()}/#/approvals`);
      const card = inbox.getByRole('article').filter({ has: inbox.getByRole('link', { name: first.jobId }) });
      await card.getByText('publish_store').waitFor();
      await inbox.screenshot({ path: path.join(outputDir, '12-approvals.png'), fullPage: true });
      await card.getByRole('button', { name: 'Accept' }).click();
      // Decided, it leaves the pending list.
      await card.waitFor({ state: 'detached' });
    } finally {
      await inbox.close();
    }

    // Back on the job's page: it resumes and completes by itself (polling), and nothing on it moved.
    await page.locator('.facts .badge-completed').waitFor();
    await page.getByText('job completed').waitFor();
    await shot('13-job-approved');
    const shifts = await page.evaluate(() => (window as unknown as { layoutShifts: { value: number; sources: string[] }[] }).layoutShifts);
    expect(shifts).toEqual([]);
  });

  it('fits every main page on a 375 px wide screen, labels every field, and reaches every control by Tab with a visible focus', { timeout: deadline }, async () => {
    const jobs = (await owner('GET', '/agents/helper/jobs')) as { jobs: { id: string }[] };
    // Each main page, and what shows it has loaded.
    const pages: readonly [string, string, () => Promise<void>][] = [
      ['agents', '/#/agents', () => page.getByRole('cell', { name: 'helper', exact: true }).waitFor()],
      ['agent', '/#/agents/helper', () => page.getByRole('link', { name: 'Chat' }).waitFor()],
      ['chat', '/#/agents/helper/chat', () => page.getByLabel('Message').waitFor()],
      ['flows', '/#/agents/helper/flows', () => page.getByRole('row').filter({ hasText: 'main' }).waitFor()],
      ['jobs', '/#/agents/helper/jobs', () => page.locator('.table .badge-completed').first().waitFor()],
      ['job', `/#/agents/helper/jobs/${jobs.jobs[0]?.id ?? ''}`, () => page.getByText('job completed').waitFor()],
      ['approvals', '/#/approvals', () => page.getByRole('row').filter({ hasText: 'accepted' }).first().waitFor()],
      ['templates', '/#/templates', () => page.getByText('No catalog offers a template.').or(page.getByRole('columnheader', { name: 'Template' })).first().waitFor()],
    ];
    for (const [name, address, loaded] of pages) {
      for (const width of [375, 1280]) {
        await page.setViewportSize({ width, height: 800 });
        await page.goto(`${origin()}${address}`);
        await loaded();
        await page.screenshot({ path: path.join(outputDir, `page-${name}-${width}.png`), fullPage: true });
        if (width === 375) expect(await page.evaluate(() => document.scrollingElement?.scrollWidth), `${name} scrolls sideways at 375 px`).toBeLessThanOrEqual(375);
      }
      expect(await page.evaluate(unnamedControls), `unnamed controls on ${name}`).toEqual([]);
      const reached = await tabThrough();
      expect(reached.missed, `controls on ${name} that Tab never reaches`).toEqual([]);
      expect(reached.withoutFocusStyle, `controls on ${name} focused without a visible focus style`).toEqual([]);
    }

    // The first Tab offers the skip link; following it puts the keyboard in the page's content.
    await page.goto(`${origin()}/#/agents`);
    // A fresh load, so the keyboard starts from the top of the page.
    await page.reload();
    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main-content');
    expect(page.url()).toContain('#/agents');

  });

  it('says the connection is lost while the server cannot be reached, and recovers by itself when it can', { timeout: deadline }, async () => {
    await page.goto(`${origin()}/#/agents`);
    await page.getByRole('cell', { name: 'helper', exact: true }).waitFor();
    // Every request to the server fails as a dropped connection would; the page already loaded stays.
    const api = (url: URL) => url.pathname.startsWith('/agents');
    const refuse = (route: Route) => route.abort('connectionrefused');
    await page.route(api, refuse);
    await page.goto(`${origin()}/#/agents/helper/flows`);
    const banner = page.getByRole('status').filter({ hasText: 'Connection lost, retrying' });
    await banner.waitFor();
    await shot('16-connection-lost');
    await page.unroute(api, refuse);
    await banner.waitFor({ state: 'detached' });
    await page.getByRole('row').filter({ hasText: 'main' }).waitFor();

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

    // The sign-in page too: labelled, reachable by Tab, and fits a phone.
    expect(await page.evaluate(unnamedControls)).toEqual([]);
    expect(await tabThrough()).toEqual({ missed: [], withoutFocusStyle: [] });
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate(() => document.scrollingElement?.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: path.join(outputDir, 'page-sign-in-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('signs a viewer in, who is offered no action on a job or an approval, and whose forced requests are refused with a code', { timeout: deadline }, async () => {
    // The owner lets the viewer into the tenant with the least role and gives them `viewer` on one agent.
    await owner('PUT', `/tenant/members/${viewerId}`, { role: 'subscriber' });
    await owner('PUT', `/agents/publisher/grants/${viewerId}`, { role: 'viewer' });
    const link = /(\S*#\/login\/\S+)/.exec(await cli(environment, 'login-link', '--as', 'viewer@e2e.test'))?.[1] as string;
    await page.goto(`${origin()}/${link.slice(link.indexOf('#'))}`);
    await page.getByRole('button', { name: 'Sign in with this link' }).click();
    await page.getByRole('heading', { name: 'Agents' }).waitFor();
    expect(await page.getByRole('row').filter({ hasText: 'publisher' }).textContent()).toContain('viewer');

    const pending = (await owner('GET', '/approvals?status=pending')) as { approvals: { id: string; jobId: string }[] };
    const action = pending.approvals[0] as { id: string; jobId: string };
    const refusal = 'Your role on this agent is viewer; only an operator or above may do this.';

    // A viewer may not read jobs: the job's page says so with the code, and offers nothing to do.
    await page.goto(`${origin()}/#/agents/publisher/jobs/${action.jobId}`);
    const notPermitted = page.getByRole('alert').filter({ hasText: 'Not permitted' }).first();
    await notPermitted.waitFor();
    expect(await notPermitted.textContent()).toContain('access.denied');
    for (const name of ['Retry', 'Cancel', 'Undo']) expect(await page.getByRole('button', { name }).count(), `${name} is offered`).toBe(0);
    await shot('14-viewer-job');

    // The approvals inbox shows the pending action, its decisions disabled with the reason.
    await page.goto(`${origin()}/#/approvals`);
    const card = page.getByRole('article').filter({ has: page.getByRole('link', { name: action.jobId }) });
    await card.getByText(refusal).waitFor();
    for (const name of ['Accept', 'Reject']) {
      const button = card.getByRole('button', { name });
      expect(await button.isDisabled(), `${name} is disabled`).toBe(true);
      expect(await button.getAttribute('title')).toBe(refusal);
    }
    await shot('15-viewer-approvals');

    // The flows page offers the viewer no run, pause or new flow: each is disabled with the reason.
    await page.goto(`${origin()}/#/agents/publisher/flows`);
    const flowRow = page.getByRole('row').filter({ hasText: 'launch' });
    await page.getByText(`Run now, Pause and Resume: ${refusal}`).waitFor();
    for (const name of ['Run now', 'Pause']) {
      const button = flowRow.getByRole('button', { name });
      expect(await button.isDisabled(), `${name} is disabled`).toBe(true);
      expect(await button.getAttribute('title')).toBe(refusal);
    }
    expect(await page.getByRole('button', { name: 'Create flow' }).isDisabled()).toBe(true);

    // The buttons only follow the server: a request sent anyway, with the session's cookie and CSRF token, is refused.
    const forced = (address: string) =>
      page.evaluate(async (url) => {
        const token = decodeURIComponent(document.cookie.split('; ').find((pair) => pair.startsWith('dm_csrf='))?.slice('dm_csrf='.length) ?? '');
        const response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': token, 'idempotency-key': crypto.randomUUID() }, body: '{}' });
        return { status: response.status, body: (await response.json()) as unknown };
      }, address);
    for (const address of [`/approvals/${action.id}/accept`, `/agents/publisher/jobs/${action.jobId}/cancel`, '/agents/publisher/flows/launch/run']) {
      expect(await forced(address), address).toMatchObject({ status: 403, body: { error: { code: 'access.denied' } } });
    }
    // Nothing changed: the action still waits for an operator.
    expect(await owner('GET', `/approvals/${action.id}`)).toMatchObject({ status: 'pending' });
  });
});
