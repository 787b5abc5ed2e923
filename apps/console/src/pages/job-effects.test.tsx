/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { showJobPage } from '../test-support/job-page';
import { json, type SeenRequest } from '../test-support/serve';
import { undoStateText, type JobEffect } from './job-effects';

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
const showJob = (answer: (request: SeenRequest) => Response, routes: Record<string, (request: SeenRequest) => Response> = {}) =>
  showJobPage({ routes: { 'GET /agents/writer/jobs/j1/effects': answer, ...routes } });
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
    // Plain queries, not role queries: a role query over a table is slow in jsdom.
    await within(section).findByText('post:12');
    const rows = [...section.querySelectorAll('tbody tr')];
    expect(rows.map((row) => [...row.querySelectorAll('td')].slice(1).map((cell) => cell.textContent?.replace(/\s+/g, ' ').trim()))).toEqual([
      ['publish', 'wordpress', 'wordpress post created post:12', 'Not undone'],
      ['publish', 'wordpress', 'wordpress term created category:3', 'Undone'],
      ['publish in j2', 'wordpress', 'wordpress post created post:13', 'Skipped: changed remotely Post 13 was changed on the site since it was published.'],
      ['publish', 'wordpress', 'wordpress media uploaded media:4', 'Undo failed: The site answered 503. handler.http_status'],
      ['notify', 'webhook', 'webhook delivered delivery:k1', 'Not undone (cannot be undone)'],
    ]);
    expect(rows[0]?.querySelector('time')?.getAttribute('dateTime')).toBe('2026-12-01T00:00:05.000Z');
    const link = within(section).getByText('post:12').closest('a');
    expect([link?.getAttribute('href'), link?.getAttribute('target'), link?.getAttribute('rel')]).toEqual(['https://blog.example/launch', '_blank', 'noopener noreferrer']);
    expect(within(section).getByText('j2').closest('a')?.getAttribute('href')).toBe('#/agents/writer/jobs/j2');
    expect(within(section).getByText('category:3').closest('a')).toBeNull();
    expect([...(rows[3]?.querySelectorAll('code') ?? [])].map((code) => code.textContent)).toEqual(['media:4', 'handler.http_status']);
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
