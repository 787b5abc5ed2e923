/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { json, serve } from '../test-support/serve';
import { ChatSessions } from './chat-sessions';

const session = (id: string, title: string | null) => ({
  id,
  tenantId: 't1',
  agentId: 'a1',
  agentSlug: 'writer',
  userId: 'u1',
  title,
  lastSeq: 4,
  createdAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:05:00.000Z',
});

function renderList(onOpen: (session: string | undefined) => void, current?: string) {
  render(
    <QueryClientProvider client={createQueryClient()}>
      <ChatSessions client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" current={current} onOpen={onOpen} />
    </QueryClientProvider>,
  );
}

describe('chat session list', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists the caller's sessions and opens one, or a new chat", async () => {
    serve({ 'GET /agents/writer/chat/sessions': json({ sessions: [session('s1', 'Daily runs'), session('s2', null)], nextCursor: null }) });
    const onOpen = vi.fn();
    renderList(onOpen, 's1');
    const list = await screen.findByRole('navigation', { name: 'Chat sessions' });
    fireEvent.click(await within(list).findByRole('button', { name: 'Daily runs' }));
    expect(onOpen).toHaveBeenLastCalledWith('s1');
    expect(within(list).getByRole('button', { name: 'Daily runs' }).closest('li')?.getAttribute('aria-current')).toBe('true');
    expect(within(list).getByRole('button', { name: /^Chat of / })).toBeTruthy();
    fireEvent.click(within(list).getByRole('button', { name: 'New chat' }));
    expect(onOpen).toHaveBeenLastCalledWith(undefined);
  });

  it('renames a session with PATCH and shows the new title', async () => {
    let title: string | null = 'Daily runs';
    const seen = serve({
      'GET /agents/writer/chat/sessions': () => json({ sessions: [session('s1', title)], nextCursor: null })(),
      'PATCH /agents/writer/chat/sessions/s1': (request) => {
        title = (request.body as { title: string | null }).title;
        return json(session('s1', title))();
      },
    });
    renderList(vi.fn());
    fireEvent.click(await screen.findByRole('button', { name: 'Rename Daily runs' }));
    fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'Weekly runs' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByRole('button', { name: 'Weekly runs' })).toBeTruthy();
    expect(seen.find((request) => request.route === 'PATCH /agents/writer/chat/sessions/s1')?.body).toEqual({ title: 'Weekly runs' });
  });

  it('deletes a session with DELETE; deleting the open one starts a new chat', async () => {
    let sessions = [session('s1', 'Daily runs'), session('s2', 'Other')];
    const seen = serve({
      'GET /agents/writer/chat/sessions': () => json({ sessions, nextCursor: null })(),
      'DELETE /agents/writer/chat/sessions/s1': () => {
        sessions = sessions.filter((entry) => entry.id !== 's1');
        return new Response(null, { status: 204 });
      },
    });
    const onOpen = vi.fn();
    renderList(onOpen, 's1');
    fireEvent.click(await screen.findByRole('button', { name: 'Delete Daily runs' }));
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Daily runs' })).toBeNull());
    expect(screen.getByRole('button', { name: 'Other' })).toBeTruthy();
    expect(seen.some((request) => request.route === 'DELETE /agents/writer/chat/sessions/s1')).toBe(true);
    expect(onOpen).toHaveBeenCalledWith(undefined);
  });

  it('shows a refused list in plain words with its code', async () => {
    serve({ 'GET /agents/writer/chat/sessions': json({ error: { code: 'access.denied', message: 'Not permitted: chat on writer.' } }, 403) });
    renderList(vi.fn());
    expect((await screen.findByRole('alert')).textContent).toContain('access.denied');
  });
});
