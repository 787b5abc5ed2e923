/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jobBody } from '../test-support/job-fixture';
import { showJobPage } from '../test-support/job-page';
import { json, type SeenRequest } from '../test-support/serve';
import { cancelRule, retryRule, undoRule, type Undo } from './job-actions';

const job = (status: string, id = 'j1') => jobBody(status, id);
const undo = (status: Undo['status'], counts = { reverted: 0, skipped: 0, failed: 0 }) => ({
  id: 'u1',
  tenantId: 't1',
  agentId: 'a1',
  jobId: 'j1',
  status,
  statusReason: null,
  attempts: 0,
  counts,
  error: null,
  requestedBy: null,
  createdAt: '2026-12-01T01:00:00.000Z',
  startedAt: null,
  finishedAt: null,
}) satisfies Undo;

/** The job page of `writer`/`j1` in `status`, for a caller with `role`, plus any extra routes. */
const showJob = (status: string, role: string, routes: Record<string, (request: SeenRequest) => Response> = {}) => showJobPage({ status, role, routes });
const button = (name: string) => screen.findByRole('button', { name });
const enabled = async (name: string) => {
  const found = await button(name);
  await waitFor(() => expect(found.hasAttribute('disabled')).toBe(false));
  return found;
};

describe('job actions', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('follows the job status: retry a failed or cancelled job, cancel a live one, undo an ended one', () => {
    expect(retryRule('failed').allowed).toBe(true);
    expect(retryRule('cancelled').allowed).toBe(true);
    expect(retryRule('completed').reason).toBe('Only a failed or cancelled job can be retried.');
    expect(cancelRule('processing').allowed).toBe(true);
    expect(cancelRule('waiting').allowed).toBe(true);
    expect(cancelRule('failed').reason).toBe('The job has ended.');
    expect(undoRule('completed', undefined).allowed).toBe(true);
    expect(undoRule('processing', undefined).reason).toBe('A job can be undone once it has ended.');
    expect(undoRule('completed', undo('processing')).reason).toBe('An undo of this job is already running.');
    expect(undoRule('completed', undo('completed')).allowed).toBe(true);
  });

  it('offers an operator retry and undo on a failed job, and says why cancel is not offered', async () => {
    showJob('failed', 'operator');
    await enabled('Retry');
    await enabled('Undo');
    expect((await button('Cancel')).hasAttribute('disabled')).toBe(true);
    expect(screen.getByText('Cancel: The job has ended.')).toBeTruthy();
  });

  it('offers a viewer no action: every button is disabled with the reason, and none sends a request', async () => {
    const seen = showJob('failed', 'viewer');
    await screen.findByText('Your role on this agent is viewer; only an operator or above may do this.');
    for (const name of ['Retry', 'Cancel', 'Undo']) {
      const found = await button(name);
      expect(found.hasAttribute('disabled')).toBe(true);
      fireEvent.click(found);
    }
    expect(seen.some((request) => request.route.startsWith('POST'))).toBe(false);
  });

  it('retries and links the new job', async () => {
    const seen = showJob('failed', 'admin', { 'POST /agents/writer/jobs/j1/retry': json(job('pending', 'j2'), 202) });
    fireEvent.click(await enabled('Retry'));
    const link = await screen.findByRole('link', { name: 'j2' });
    expect(link.getAttribute('href')).toBe('#/agents/writer/jobs/j2');
    expect(seen.filter((request) => request.route === 'POST /agents/writer/jobs/j1/retry')).toHaveLength(1);
  });

  it('cancels a live job', async () => {
    const seen = showJob('processing', 'operator', { 'POST /agents/writer/jobs/j1/cancel': json(job('cancelled')) });
    expect((await button('Retry')).hasAttribute('disabled')).toBe(true);
    expect((await button('Undo')).hasAttribute('disabled')).toBe(true);
    fireEvent.click(await enabled('Cancel'));
    await waitFor(() => expect(seen.some((request) => request.route === 'POST /agents/writer/jobs/j1/cancel')).toBe(true));
  });

  it('undoes a job and shows the undo report', async () => {
    let undos: unknown[] = [];
    showJob('completed', 'operator', {
      'GET /agents/writer/jobs/j1/undos': () => json({ undos })(),
      'POST /agents/writer/jobs/j1/undo': () => {
        undos = [undo('completed', { reverted: 2, skipped: 1, failed: 0 })];
        return json(undos[0], 202)();
      },
    });
    fireEvent.click(await enabled('Undo'));
    const report = await screen.findByRole('region', { name: 'Undo report' });
    expect(within(report).getByText('Reverted').nextElementSibling?.textContent).toBe('2');
    expect(within(report).getByText('Skipped').nextElementSibling?.textContent).toBe('1');
    expect(within(report).getByText('completed')).toBeTruthy();
  });

  it('shows a refused action in plain words with its code', async () => {
    showJob('completed', 'operator', { 'POST /agents/writer/jobs/j1/undo': json({ error: { code: 'undo.in_progress', message: 'An undo of this job is already running.' } }, 409) });
    fireEvent.click(await enabled('Undo'));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('An undo of this job is already running.');
    expect(alert.textContent).toContain('undo.in_progress');
  });
});
