/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { json, serve } from '../test-support/serve';
import { ApprovalsPage } from './approvals-page';

const agent = (role: string) => ({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role }] });
const approval = (overrides: Record<string, unknown> = {}) => ({
  id: 'ap1',
  agentId: 'a1',
  jobId: 'j1',
  stepKey: 'ai',
  sessionId: null,
  toolCallId: 'c1',
  kind: 'publish',
  summary: 'Publish "Hello" to WordPress',
  preview: null,
  toolName: 'wordpress_publish',
  input: { title: 'Hello', status: 'publish' },
  triggeredBy: null,
  status: 'pending',
  expiresAt: '2026-12-02T00:00:00.000Z',
  decidedBy: null,
  decidedVia: null,
  decidedAt: null,
  reason: null,
  result: null,
  createdAt: '2026-12-01T00:00:00.000Z',
  ...overrides,
});
const decided = approval({ id: 'ap0', summary: 'Publish "Old"', status: 'rejected', decidedAt: '2026-12-01T01:00:00.000Z', decidedVia: 'api', reason: 'off topic' });

function show() {
  render(
    <QueryClientProvider client={createQueryClient()}>
      <ApprovalsPage client={createApiClient({ baseUrl: 'http://console.test' })} />
    </QueryClientProvider>,
  );
}

describe('approvals inbox', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows a pending action with the exact input that will run, and the decided ones as history', async () => {
    const seen = serve({
      'GET /agents': json(agent('operator')),
      'GET /approvals': (request) => json({ approvals: request.query.get('status') === 'pending' ? [approval()] : [approval(), decided], nextCursor: null })(),
    });
    show();
    const card = await screen.findByRole('article', { name: 'Publish "Hello" to WordPress' });
    expect(within(card).getByText(/"title": "Hello"/).textContent).toBe(JSON.stringify({ title: 'Hello', status: 'publish' }, null, 2));
    expect(within(card).getByRole('link', { name: 'j1' }).getAttribute('href')).toBe('#/agents/writer/jobs/j1');
    const history = await screen.findByRole('cell', { name: 'Publish "Old"' });
    expect(within(history.closest('tr') as HTMLElement).getByText('off topic')).toBeTruthy();
    expect(seen.find((request) => request.route === 'GET /approvals')?.query.get('status')).toBe('pending');
  });

  it('filters by status', async () => {
    const seen = serve({ 'GET /agents': json(agent('operator')), 'GET /approvals': json({ approvals: [], nextCursor: null }) });
    show();
    await screen.findByText('Nothing is waiting for a decision.');
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'rejected' } });
    await screen.findByText('No rejected actions.');
    expect(seen.some((request) => request.route === 'GET /approvals' && request.query.get('status') === 'rejected')).toBe(true);
  });

  it('shows more pages by their cursor', async () => {
    const seen = serve({
      'GET /agents': json(agent('operator')),
      'GET /approvals': (request) =>
        request.query.get('cursor') === 'next'
          ? json({ approvals: [approval({ id: 'ap2', summary: 'Publish "Second"' })], nextCursor: null })()
          : json({ approvals: request.query.get('status') === 'pending' ? [approval()] : [], nextCursor: request.query.get('status') === 'pending' ? 'next' : null })(),
    });
    show();
    await screen.findByRole('article', { name: 'Publish "Hello" to WordPress' });
    fireEvent.click(screen.getByRole('button', { name: 'Show more' }));
    await screen.findByRole('article', { name: 'Publish "Second"' });
    expect(seen.find((request) => request.query.get('cursor') === 'next')?.query.get('status')).toBe('pending');
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Show more' })).toBeNull());
  });

  it('accepts with the reason given, and rejects without one', async () => {
    const seen = serve({
      'GET /agents': json(agent('operator')),
      'GET /approvals': json({ approvals: [approval()], nextCursor: null }),
      'POST /approvals/ap1/accept': json(approval({ status: 'accepted' })),
      'POST /approvals/ap1/reject': json(approval({ status: 'rejected' })),
    });
    show();
    const card = await screen.findByRole('article', { name: 'Publish "Hello" to WordPress' });
    fireEvent.change(within(card).getByLabelText('Reason (optional)'), { target: { value: 'looks right' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Accept' }));
    await waitFor(() => expect(seen.find((request) => request.route === 'POST /approvals/ap1/accept')?.body).toEqual({ reason: 'looks right' }));
    fireEvent.change(within(card).getByLabelText('Reason (optional)'), { target: { value: '  ' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(seen.find((request) => request.route === 'POST /approvals/ap1/reject')?.body).toEqual({}));
  });

  it('offers a viewer no decision: the buttons are disabled with the reason', async () => {
    const seen = serve({ 'GET /agents': json(agent('viewer')), 'GET /approvals': json({ approvals: [approval()], nextCursor: null }) });
    show();
    const card = await screen.findByRole('article', { name: 'Publish "Hello" to WordPress' });
    await within(card).findByText('Your role on this agent is viewer; only an operator or above may do this.');
    expect(within(card).getByRole('button', { name: 'Accept' }).hasAttribute('disabled')).toBe(true);
    expect(within(card).getByRole('button', { name: 'Reject' }).hasAttribute('disabled')).toBe(true);
    expect(within(card).queryByLabelText('Reason (optional)')).toBeNull();
    fireEvent.click(within(card).getByRole('button', { name: 'Accept' }));
    expect(seen.some((request) => request.route.startsWith('POST'))).toBe(false);
  });

  it('shows a refused decision in plain words with its code', async () => {
    serve({
      'GET /agents': json(agent('operator')),
      'GET /approvals': json({ approvals: [approval()], nextCursor: null }),
      'POST /approvals/ap1/accept': json({ error: { code: 'approval.already_resolved', message: 'This action was already decided.' } }, 409),
    });
    show();
    const card = await screen.findByRole('article', { name: 'Publish "Hello" to WordPress' });
    fireEvent.click(within(card).getByRole('button', { name: 'Accept' }));
    const alert = await within(card).findByRole('alert');
    expect(alert.textContent).toContain('This action was already decided.');
    expect(alert.textContent).toContain('approval.already_resolved');
  });

  it('shows a failed listing with its code', async () => {
    serve({ 'GET /agents': json(agent('operator')), 'GET /approvals': json({ error: { code: 'auth.forbidden', message: 'You may not read approvals.' } }, 403) });
    show();
    const alerts = await screen.findAllByRole('alert');
    expect(alerts[0]?.textContent).toContain('Not permitted');
    expect(alerts[0]?.textContent).toContain('auth.forbidden');
  });
});
