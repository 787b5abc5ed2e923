/** @vitest-environment jsdom */
import { QueryClient } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/api-error';
import { App, createQueryClient } from '../app';
import { json } from '../test-support/serve';
import { isConnectionLoss } from './connection';

const me = { user: { id: 'u1', email: 'ada@example.test', displayName: 'Ada' }, via: 'user', tenants: [] };
const agents = { agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role: 'admin' }] };

/** A server that can be taken down: while down, every request fails as a dropped connection would (or as a proxy's 502). */
function flakyServer() {
  const state = { down: 'no' as 'no' | 'refused' | 'bad-gateway', requests: 0 };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (request: Request) => {
      state.requests += 1;
      if (state.down === 'refused') throw new TypeError('Failed to fetch');
      if (state.down === 'bad-gateway') return new Response('<html>502 Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
      const route = `${request.method} ${new URL(request.url).pathname}`;
      if (route === 'GET /me') return json(me)();
      if (route === 'GET /agents') return json(agents)();
      return json({ error: { code: 'route.not_found', message: 'No route' } }, 404)();
    }),
  );
  return state;
}

const banner = () => screen.getByRole('status');
/** Waits for an assertion with room for a busy machine (the default second is short for several refetches). */
const eventually = (assertion: () => void) => waitFor(assertion, { timeout: 10_000 });
/** The agents page has shown the agent (the first render of a test file is slow on a busy machine). */
const agentShown = () => screen.findByRole('link', { name: 'Writer' }, { timeout: 10_000 });

describe('the connection banner', { timeout: 30_000 }, () => {
  beforeEach(() => {
    window.location.hash = '#/agents';
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('says the connection is lost while the server cannot be reached, keeps the page, and clears once it answers again', async () => {
    const server = flakyServer();
    // No retries of its own: only the banner's can bring the page back.
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });
    render(<App queryClient={queryClient} reconnectEveryMs={20} />);
    await agentShown();
    expect(banner().textContent).toBe('');

    server.down = 'refused';
    void queryClient.refetchQueries({ type: 'active' });
    await eventually(() => expect(banner().textContent).toContain('Connection lost, retrying'));
    // The page already shown stays: a failed refetch does not blank it.
    expect(screen.getByRole('link', { name: 'Writer' })).toBeTruthy();

    const before = server.requests;
    server.down = 'no';
    // Recovered by the banner's own retries, without anyone acting.
    await eventually(() => expect(banner().textContent).toBe(''));
    expect(server.requests).toBeGreaterThan(before);
  });

  it('counts a proxy 5xx as a lost connection, and retries at once on request', async () => {
    const server = flakyServer();
    const queryClient = createQueryClient();
    render(<App queryClient={queryClient} reconnectEveryMs={60_000} />);
    await agentShown();
    server.down = 'bad-gateway';
    void queryClient.refetchQueries({ type: 'active' });
    await eventually(() => expect(banner().textContent).toContain('Connection lost, retrying'));
    server.down = 'no';
    fireEvent.click(screen.getByRole('button', { name: 'Retry now' }));
    await eventually(() => expect(banner().textContent).toBe(''));
  });

  it('shows a first failure in plain words with its code, never a blank page, and recovers from it', async () => {
    const server = flakyServer();
    server.down = 'refused';
    render(<App queryClient={createQueryClient()} reconnectEveryMs={20} />);
    const alert = await screen.findByRole('alert', {}, { timeout: 10_000 });
    expect(alert.textContent).toContain('Connection lost');
    expect(alert.textContent).toContain('network.unreachable');
    server.down = 'no';
    await agentShown();
  });
});

describe('isConnectionLoss', () => {
  it('is a failed fetch or a 5xx that is not the server’s own typed error', () => {
    expect(isConnectionLoss(new ApiError(0, 'network.unreachable', 'The server cannot be reached.'))).toBe(true);
    expect(isConnectionLoss(new ApiError(503, 'http.unexpected', 'The server answered 503.'))).toBe(true);
    expect(isConnectionLoss(new ApiError(503, 'model.not_configured', 'No model.'))).toBe(false);
    expect(isConnectionLoss(new ApiError(403, 'access.denied', 'No.'))).toBe(false);
    expect(isConnectionLoss(new Error('boom'))).toBe(false);
  });
});
