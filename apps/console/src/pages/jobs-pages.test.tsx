/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { jobBody } from '../test-support/job-fixture';
import { json, serve, type SeenRequest } from '../test-support/serve';
import { showJobPage } from '../test-support/job-page';
import { JobsPage, jobListQuery, readJobFilters, stepOutputs } from './jobs-pages';

const job = (id: string, status = 'completed', engineData: Record<string, unknown> = {}) => jobBody(status, id, engineData);
const flows = json({ flows: [{ id: 'flw_1', pipelineId: 'pip_1', slug: 'daily', name: 'Daily', schedule: { kind: 'manual' }, paused: false }] });
const client = () => createApiClient({ baseUrl: 'http://console.test' });
const showJobs = () =>
  render(
    <QueryClientProvider client={createQueryClient()}>
      <JobsPage client={client()} agent="writer" />
    </QueryClientProvider>,
  );
const lists = (seen: readonly SeenRequest[]) => seen.filter((request) => request.route === 'GET /agents/writer/jobs');

describe('jobs list', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    window.history.replaceState(null, '', '#/');
  });

  it('reads its filters from the address and asks for them: since inclusive, before exclusive, at the start of the local day', () => {
    const filters = readJobFilters(new URLSearchParams('flow=daily&status=failed&since=2026-11-30&before=2026-12-01'));
    expect(jobListQuery(filters, 'c1')).toEqual({
      flow: 'daily',
      status: 'failed',
      createdSince: new Date('2026-11-30T00:00:00').toISOString(),
      createdBefore: new Date('2026-12-01T00:00:00').toISOString(),
      cursor: 'c1',
    });
    expect(jobListQuery(readJobFilters(new URLSearchParams('status=bogus&since=yesterday')), undefined)).toEqual({});
  });

  it('filters by flow and status, keeps the filters in the address, and starts from them after a reload', async () => {
    window.history.replaceState(null, '', '#/agents/writer/jobs');
    const seen = serve({ 'GET /agents/writer/flows': flows, 'GET /agents/writer/jobs': json({ jobs: [job('j1')], nextCursor: null }) });
    showJobs();
    await screen.findByRole('link', { name: 'j1' });
    fireEvent.change(await screen.findByRole('option', { name: 'Daily' }).then(() => screen.getByLabelText('Flow')), { target: { value: 'daily' } });
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'failed' } });
    fireEvent.change(screen.getByLabelText('Created since'), { target: { value: '2026-11-30' } });
    await waitFor(() => expect(lists(seen).at(-1)?.query.get('createdSince')).toBe(new Date('2026-11-30T00:00:00').toISOString()));
    const last = lists(seen).at(-1);
    expect(last?.query.get('flow')).toBe('daily');
    expect(last?.query.get('status')).toBe('failed');
    expect(window.location.hash).toBe('#/agents/writer/jobs?flow=daily&status=failed&since=2026-11-30');
    cleanup();
    const again = serve({ 'GET /agents/writer/flows': flows, 'GET /agents/writer/jobs': json({ jobs: [], nextCursor: null }) });
    showJobs();
    await screen.findByText('No job matches these filters.');
    expect((screen.getByLabelText('Status') as HTMLSelectElement).value).toBe('failed');
    expect(lists(again)[0]?.query.get('status')).toBe('failed');
    expect(lists(again)[0]?.query.get('flow')).toBe('daily');
  });

  it('loads the next page with the cursor, and offers no more once the last page is in', async () => {
    const seen = serve({
      'GET /agents/writer/flows': flows,
      'GET /agents/writer/jobs': (request) => (request.query.get('cursor') === 'c1' ? json({ jobs: [job('j2')], nextCursor: null })() : json({ jobs: [job('j1')], nextCursor: 'c1' })()),
    });
    showJobs();
    fireEvent.click(await screen.findByRole('button', { name: 'Load more' }));
    await screen.findByRole('link', { name: 'j2' });
    expect(screen.getByRole('link', { name: 'j1' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
    expect(lists(seen).map((request) => request.query.get('cursor'))).toEqual([null, 'c1']);
  });
});

describe('job page', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("orders the outputs by the pipeline's steps, marks a step without output, and keeps an output of a step the pipeline lost", () => {
    expect(stepOutputs(['fetch', 'think', 'publish'], { outputs: { think: 'summary', stale: 1, fetch: null } })).toEqual([
      { step: 'fetch', done: true, output: null },
      { step: 'think', done: true, output: 'summary' },
      { step: 'publish', done: false, output: undefined },
      { step: 'stale', done: true, output: 1 },
    ]);
    expect(stepOutputs(['fetch'], {})).toEqual([{ step: 'fetch', done: false, output: undefined }]);
  });

  it("lists a fan-out's children, each linking to its own page, a page at a time", async () => {
    const seen = showJobPage({
      status: 'waiting',
      routes: {
        'GET /agents/writer/jobs/j1/children': (request) =>
          request.query.get('cursor') === 'c1' ? json({ jobs: [job('c3', 'failed')], nextCursor: null })() : json({ jobs: [job('c1'), job('c2', 'processing')], nextCursor: 'c1' })(),
      },
    });
    const section = (await screen.findByRole('heading', { name: 'Children' })).closest('section') as HTMLElement;
    fireEvent.click(await within(section).findByRole('button', { name: 'Load more children' }));
    await within(section).findByRole('link', { name: 'c3' });
    expect(within(section).getAllByRole('link').map((link) => [link.textContent, link.getAttribute('href')])).toEqual([
      ['c1', '#/agents/writer/jobs/c1'],
      ['c2', '#/agents/writer/jobs/c2'],
      ['c3', '#/agents/writer/jobs/c3'],
    ]);
    expect(within(section).queryByRole('button', { name: 'Load more children' })).toBeNull();
    expect(seen.filter((request) => request.route === 'GET /agents/writer/jobs/j1/children').map((request) => request.query.get('cursor'))).toContain('c1');
  });

  it("shows each step's output folded, in step order, and the item a fan-out child works on", async () => {
    showJobPage({
      role: 'viewer',
      routes: {
        'GET /agents/writer/jobs/j1': json(job('j1', 'processing', { item: { sourceKey: 'post-7', data: { title: 'Hello' } }, outputs: { think: { text: 'A summary' } } })),
        'GET /agents/writer/pipelines/p1': json({ id: 'p1', slug: 'digest', steps: [{ key: 'think', type: 'ai', config: {} }, { key: 'publish', type: 'publish', handler: 'wordpress', config: {} }] }),
      },
    });
    const section = (await screen.findByRole('heading', { name: 'Step outputs' })).closest('section') as HTMLElement;
    const think = (await within(section).findByText('Step think')).closest('details');
    expect(think?.open).toBe(false);
    expect(JSON.parse(think?.querySelector('pre')?.textContent ?? '')).toEqual({ text: 'A summary' });
    expect(within(section).getByText('Step publish: no output yet.')).toBeTruthy();
    const item = within(section).getByText('Item post-7').closest('details');
    expect(JSON.parse(item?.querySelector('pre')?.textContent ?? '')).toEqual({ title: 'Hello' });
    const order = [...section.querySelectorAll('.step-output')].map((element) => element.textContent?.slice(0, 12));
    expect(order).toEqual(['Item post-7{', 'Step think{\n', 'Step publish']);
  });
});
