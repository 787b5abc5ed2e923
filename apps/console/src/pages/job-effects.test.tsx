/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { jobBody } from '../test-support/job-fixture';
import { json, serve, type SeenRequest } from '../test-support/serve';
import { undoStateText, type JobEffect } from './job-effects';
import { JobPage } from './jobs-pages';

const effect = (ref: string, undo: JobEffect['undo'], extra: Partial<JobEffect> = {}): JobEffect => ({
  jobId: 'j1',
  key: `effect:publish:${ref}`,
  step: 'publish',
  handler: 'wordpress',
  kind: 'wordpress_post_created',
  ref,
  url: null,
  reversible: true,
  at: '2026-12-01T00:00:05.000Z',
  undo,
  ...extra,
});

const at = '2026-12-01T01:00:00.000Z';
const effects = [
  effect('post:12', { status: 'not_undone' }, { url: 'https://blog.example/launch' }),
  effect('category:3', { status: 'undone', undoId: 'u1', at }, { kind: 'wordpress_term_created' }),
  effect('post:13', { status: 'skipped', undoId: 'u1', reason: 'changed_remotely', message: 'Post 13 was changed on the site since it was published.', at }, { jobId: 'j2' }),
  effect('media:4', { status: 'failed', undoId: 'u1', error: { code: 'handler.http_status', message: 'The site answered 503.' }, at }, { kind: 'wordpress_media_uploaded' }),
  effect('delivery:k1', { status: 'not_undone' }, { step: 'notify', handler: 'webhook', kind: 'webhook_delivered', reversible: false, url: 'https://hooks.example/in' }),
];

/** The job page of `writer`/`j1`, ended, for an operator, answering its effects with `answer`. */
function showJob(answer: (request: SeenRequest) => Response, extra: Record<string, (request: SeenRequest) => Response> = {}) {
  const seen = serve({
    'GET /agents': json({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role: 'operator' }] }),
    'GET /agents/writer/jobs/j1': json(jobBody('completed')),
    'GET /agents/writer/jobs/j1/logs': json({ lines: [] }),
    'GET /agents/writer/jobs/j1/children': json({ jobs: [] }),
    'GET /agents/writer/jobs/j1/undos': json({ undos: [] }),
    'GET /agents/writer/jobs/j1/effects': answer,
    'GET /agents/writer/pipelines/p1': json({ id: 'p1', slug: 'digest', steps: [] }),
    ...extra,
  });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <JobPage client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" job="j1" />
    </QueryClientProvider>,
  );
  return seen;
}
const effectsSection = async () => (await screen.findByRole('heading', { name: 'Effects' })).closest('section') as HTMLElement;
const effectRequests = (seen: readonly SeenRequest[]) => seen.filter((request) => request.route === 'GET /agents/writer/jobs/j1/effects');

describe('job effects', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('says where an effect stands with undo in plain words', () => {
    expect(effects.map((shown) => undoStateText(shown.undo))).toEqual(['Not undone', 'Undone', 'Skipped: changed remotely', 'Undo failed', 'Not undone']);
  });

  it('lists each effect with its step, handler, what it was (linked when the handler recorded an address) and its undo state', async () => {
    showJob(json({ effects, nextCursor: null }));
    const section = await effectsSection();
    const rows = (await within(section).findAllByRole('row')).slice(1);
    expect(rows.map((row) => [...row.querySelectorAll('td')].slice(1).map((cell) => cell.textContent?.replace(/\s+/g, ' ').trim()))).toEqual([
      ['publish', 'wordpress', 'wordpress post created post:12', 'Not undone'],
      ['publish', 'wordpress', 'wordpress term created category:3', 'Undone'],
      ['publish in j2', 'wordpress', 'wordpress post created post:13', 'Skipped: changed remotely Post 13 was changed on the site since it was published.'],
      ['publish', 'wordpress', 'wordpress media uploaded media:4', 'Undo failed: The site answered 503. handler.http_status'],
      ['notify', 'webhook', 'webhook delivered delivery:k1', 'Not undone (cannot be undone)'],
    ]);
    const link = within(section).getByRole('link', { name: 'post:12' });
    expect([link.getAttribute('href'), link.getAttribute('target'), link.getAttribute('rel')]).toEqual(['https://blog.example/launch', '_blank', 'noopener noreferrer']);
    expect(rows[0]?.querySelector('time')?.getAttribute('dateTime')).toBe('2026-12-01T00:00:05.000Z');
    expect(within(section).getByRole('link', { name: 'j2' }).getAttribute('href')).toBe('#/agents/writer/jobs/j2');
    expect(within(section).queryByRole('link', { name: 'category:3' })).toBeNull();
    expect(within(rows[3] as HTMLElement).getByText('handler.http_status').tagName).toBe('CODE');
  });

  it('says so when the job recorded no effects', async () => {
    showJob(json({ effects: [], nextCursor: null }));
    expect(await within(await effectsSection()).findByText('No effects recorded: no handler of this job reported a change on another system.')).toBeTruthy();
  });

  it('shows a refusal with its code in the section', async () => {
    showJob(json({ error: { code: 'access.denied', message: 'Your role on this agent does not allow reading its jobs.' } }, 403));
    const alert = await within(await effectsSection()).findByRole('alert');
    expect(alert.textContent).toContain('Not permitted.');
    expect(alert.querySelector('code')?.textContent).toBe('access.denied');
  });

  it('loads the next page with the cursor', async () => {
    const seen = showJob((request) => (request.query.get('cursor') === 'c1' ? json({ effects: effects.slice(1, 2), nextCursor: null })() : json({ effects: effects.slice(0, 1), nextCursor: 'c1' })()));
    const section = await effectsSection();
    fireEvent.click(await within(section).findByRole('button', { name: 'Load more' }));
    await within(section).findByText('category:3');
    expect(within(section).queryByRole('button', { name: 'Load more' })).toBeNull();
    expect(effectRequests(seen).map((request) => request.query.get('cursor'))).toEqual([null, 'c1']);
  });

  it('reads the effects again once an undo of the job is requested, to show their new state', async () => {
    let undos: unknown[] = [];
    const pending = { id: 'u1', tenantId: 't1', agentId: 'a1', jobId: 'j1', status: 'pending', statusReason: null, attempts: 0, counts: { reverted: 0, skipped: 0, failed: 0 }, error: null, requestedBy: null, createdAt: at, startedAt: null, finishedAt: null };
    const seen = showJob(json({ effects: effects.slice(0, 1), nextCursor: null }), {
      'GET /agents/writer/jobs/j1/undos': () => json({ undos })(),
      'POST /agents/writer/jobs/j1/undo': () => {
        undos = [pending];
        return json(pending, 202)();
      },
    });
    await within(await effectsSection()).findByText('post:12');
    const before = effectRequests(seen).length;
    const undo = await screen.findByRole('button', { name: 'Undo' });
    await waitFor(() => expect(undo.hasAttribute('disabled')).toBe(false));
    fireEvent.click(undo);
    await waitFor(() => expect(effectRequests(seen).length).toBeGreaterThan(before));
  });
});
