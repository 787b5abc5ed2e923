/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { json, serve } from '../test-support/serve';
import { AgentsPage } from './agents-page';

// A whole page renders in each test; its first render, under a full suite on two cores, can pass the 5 s default.
describe('agents page', { timeout: 20_000 }, () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the self-service limit plainly when creating one more agent is refused', async () => {
    serve({
      'GET /agents': json({ agents: [] }),
      'POST /agents': json({ error: { code: 'agent.limit_reached', message: 'You already own as many agents as this tenant allows.', details: { tenantId: 't1' } } }, 409),
    });
    render(
      <QueryClientProvider client={createQueryClient()}>
        <AgentsPage client={createApiClient({ baseUrl: 'http://console.test' })} />
      </QueryClientProvider>,
    );
    const form = await screen.findByRole('form', { name: 'Create an agent' });
    fireEvent.change(within(form).getByLabelText('Slug', { exact: false }), { target: { value: 'second' } });
    fireEvent.change(within(form).getByLabelText('Name', { exact: false }), { target: { value: 'Second' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create agent' }));
    const alert = await within(form).findByRole('alert');
    expect(alert.textContent).toContain('You already own as many agents as this tenant allows.');
    expect(alert.textContent).toContain('agent.limit_reached');
    expect(within(form).getByText(/Ask a tenant owner or admin to raise the limit/)).toBeTruthy();
  });
});
