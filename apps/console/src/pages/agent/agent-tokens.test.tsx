/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, type SeenRequest } from '../../test-support/serve';
import { expiryOf } from './agent-tokens';
import { changes, showAgent } from './agent-test-support';

const secret = 'dma_0123456789abcdefSECRET';
const token = (revokedAt: string | null = null) => ({
  id: 'tok1',
  userId: 'u1',
  tenantId: 't1',
  agentId: 'a1',
  prefix: 'dma_0123',
  label: 'CI',
  ceiling: ['chat', 'view_logs'],
  expiresAt: null,
  lastUsedAt: null,
  revokedAt,
  createdAt: '2026-12-01T00:00:00.000Z',
});

/** A server whose token list holds what was created; only the creation answers the secret. */
function tokenServer() {
  let tokens: ReturnType<typeof token>[] = [];
  return {
    'GET /agents/writer/tokens': () => json({ tokens })(),
    'POST /agents/writer/tokens': () => {
      tokens = [token()];
      return json({ token: token(), secret }, 201)();
    },
    'DELETE /agents/writer/tokens/tok1': () => {
      tokens = [token('2026-12-01T02:00:00.000Z')];
      return json(tokens[0])();
    },
  } satisfies Record<string, (request: SeenRequest) => Response>;
}

async function openTokens() {
  fireEvent.click(await screen.findByRole('tab', { name: 'Tokens' }));
  return screen.findByRole('form', { name: 'Create a token' });
}

// A whole page renders in each test; its first render, under a full suite on two cores, can pass the 5 s default.
describe('agent tokens', { timeout: 20_000 }, () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('expires a token the chosen number of days from now, or never', () => {
    expect(expiryOf(new Date('2026-12-01T00:00:00.000Z'), 30)).toBe('2026-12-31T00:00:00.000Z');
    expect(expiryOf(new Date('2026-12-01T00:00:00.000Z'), null)).toBeNull();
  });

  it('shows the secret once, with a copy button, and never again once dismissed', async () => {
    const writeText = vi.fn(async () => undefined);
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    const seen = showAgent('admin', tokenServer());
    const form = await openTokens();
    fireEvent.change(within(form).getByLabelText('Label', { exact: false }), { target: { value: 'CI' } });
    fireEvent.click(within(form).getByRole('checkbox', { name: /view_logs/ }));
    fireEvent.change(within(form).getByLabelText('Expiry'), { target: { value: '30' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create token' }));
    const shown = await screen.findByRole('region', { name: 'New token secret' });
    expect(shown.textContent).toContain(secret);
    expect(shown.textContent).toContain('shown only this once');
    fireEvent.click(within(shown).getByRole('button', { name: 'Copy secret' }));
    await within(shown).findByText('Copied.');
    expect(writeText).toHaveBeenCalledWith(secret);
    const created = changes(seen)[0]?.body as { label: string; ceiling: string[]; expiresAt: string | null };
    expect(created).toMatchObject({ label: 'CI', ceiling: ['chat', 'view_logs'] });
    expect(created.expiresAt).not.toBeNull();
    // The list shows the token by its prefix, never its secret.
    await screen.findByText('dma_0123');
    fireEvent.click(within(shown).getByRole('button', { name: 'I have copied it' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'New token secret' })).toBeNull());
    expect(document.body.textContent).not.toContain(secret);
  });

  it('revokes a token', async () => {
    const server = tokenServer();
    const seen = showAgent('admin', server);
    const form = await openTokens();
    fireEvent.change(within(form).getByLabelText('Label', { exact: false }), { target: { value: 'CI' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create token' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke CI' }));
    await screen.findByText(/^revoked/);
    expect(changes(seen).map((request) => request.route)).toEqual(['POST /agents/writer/tokens', 'DELETE /agents/writer/tokens/tok1']);
  });

  it('offers an operator no tokens, saying why, and asks the server for none', async () => {
    const seen = showAgent('operator', tokenServer());
    fireEvent.click(await screen.findByRole('tab', { name: 'Tokens' }));
    await screen.findByText('Your role on this agent is operator; only an admin or above may do this.');
    expect(screen.queryByRole('form', { name: 'Create a token' })).toBeNull();
    expect(seen.some((request) => request.route.includes('/tokens'))).toBe(false);
  });
});
