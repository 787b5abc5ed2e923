/** @vitest-environment jsdom */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { SignIn } from './sign-in';

/** A fetch that answers every request with `status` and `body`, and records what it was sent. */
function answering(status: number, body: unknown) {
  const sent: { url: string; body: unknown }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    sent.push({ url: request.url, body: await request.json() });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, sent };
}

function renderSignIn(fetch: typeof globalThis.fetch, loginToken?: string) {
  const onSignedIn = vi.fn();
  const client = createApiClient({ baseUrl: 'http://console.test', fetch });
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { mutations: { retry: false } } })}>
      <SignIn client={client} loginToken={loginToken} onSignedIn={onSignedIn} />
    </QueryClientProvider>,
  );
  return onSignedIn;
}

const signedIn = { user: { id: 'u1', email: 'owner@example.test', displayName: 'Owner' }, csrfToken: 'c', expiresAt: '2026-12-08T00:00:00.000Z', idleTimeoutSeconds: 43200 };

describe('sign-in form', () => {
  afterEach(cleanup);

  it('signs in by pasting a personal access token', async () => {
    const { fetch, sent } = answering(201, signedIn);
    const onSignedIn = renderSignIn(fetch);
    fireEvent.change(screen.getByLabelText('Personal access token'), { target: { value: ' dmpt_secret ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in with token' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(signedIn.user));
    expect(sent).toEqual([{ url: 'http://console.test/console/sessions', body: { token: 'dmpt_secret' } }]);
  });

  it('offers one click to use the login link the page was opened with', async () => {
    const { fetch, sent } = answering(201, signedIn);
    const onSignedIn = renderSignIn(fetch, 'dmll_abc.def');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in with this link' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalled());
    expect(sent[0]?.body).toEqual({ loginToken: 'dmll_abc.def' });
  });

  it('shows a refusal in plain words with its code, and stays on the form', async () => {
    const { fetch } = answering(401, { error: { code: 'login_link.used', message: 'The login link was already used; ask for a new one.' } });
    const onSignedIn = renderSignIn(fetch, 'dmll_used.sig');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in with this link' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('You are signed out.');
    expect(alert.textContent).toContain('The login link was already used');
    expect(alert.textContent).toContain('login_link.used');
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it('marks the token field with the field error the server names', async () => {
    const { fetch } = answering(400, { error: { code: 'input.invalid', message: 'Invalid body', details: { issues: [{ path: 'body.token', message: 'Too big' }] } } });
    renderSignIn(fetch);
    fireEvent.change(screen.getByLabelText('Personal access token'), { target: { value: 'x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in with token' }));
    await waitFor(() => expect(screen.getByLabelText('Personal access token').getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByText('Too big')).toBeTruthy();
  });

  it('reports a lost connection as such', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof globalThis.fetch;
    renderSignIn(fetch);
    fireEvent.change(screen.getByLabelText('Personal access token'), { target: { value: 'dmpt_x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in with token' }));
    expect((await screen.findByRole('alert')).textContent).toContain('network.unreachable');
  });
});
