/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App, createQueryClient } from './app';

const tenant = (slug: string, role: string) => ({ tenant: { id: `t-${slug}`, slug, name: slug.toUpperCase(), isCatalog: false, agentLimitPerUser: 3, allowPrivateAddresses: false, createdAt: '2026-12-01T00:00:00.000Z' }, role });
const me = { user: { id: 'u1', email: 'ada@example.test', displayName: 'Ada' }, via: 'user', tenants: [tenant('acme', 'owner'), tenant('globex', 'member')] };

/** Answers the console's requests from `routes` (by method and path), recording the tenant each named. */
function serve(routes: Record<string, () => Response>) {
  const seen: { route: string; tenant: string | null }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (request: Request) => {
      const route = `${request.method} ${new URL(request.url).pathname}`;
      seen.push({ route, tenant: request.headers.get('x-tenant') });
      return routes[route]?.() ?? new Response(JSON.stringify({ error: { code: 'route.not_found', message: 'No route' } }), { status: 404 });
    }),
  );
  return seen;
}
const json = (body: unknown, status = 200) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('console shell', () => {
  beforeEach(() => {
    localStorage.clear();
    window.location.hash = '#/agents';
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows the sign-in page when there is no session', async () => {
    serve({ 'GET /me': json({ error: { code: 'auth.required', message: 'Sign in.' } }, 401) });
    render(<App queryClient={createQueryClient()} />);
    await screen.findByRole('heading', { name: 'Sign in to Data Machine' });
  });

  it('names the first tenant in every request, and the chosen one after a switch', async () => {
    const seen = serve({ 'GET /me': json(me), 'GET /agents': json({ agents: [] }) });
    render(<App queryClient={createQueryClient()} />);
    await screen.findByRole('heading', { name: 'Agents' });
    await waitFor(() => expect(seen.find((request) => request.route === 'GET /agents')?.tenant).toBe('acme'));
    fireEvent.change(screen.getByLabelText('Tenant'), { target: { value: 'globex' } });
    await waitFor(() => expect(seen.filter((request) => request.route === 'GET /agents').at(-1)?.tenant).toBe('globex'));
    expect(localStorage.getItem('data-machine.tenant')).toBe('globex');
  });
});
