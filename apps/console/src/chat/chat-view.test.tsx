/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Chat } from './chat-view';

/** A streamed chat response whose events the test releases one by one. */
function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) });
  const encoder = new TextEncoder();
  return {
    response: new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
    send: (event: string, data: unknown, id?: string) => controller.enqueue(encoder.encode(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)),
    end: () => controller.close(),
  };
}

function renderChat(fetch: typeof globalThis.fetch) {
  render(<Chat agent="writer" baseUrl="http://console.test" fetch={fetch} />);
  fireEvent.change(screen.getByLabelText('Message'), { target: { value: 'Hello there' } });
  fireEvent.click(screen.getByRole('button', { name: 'Send' }));
}

describe('chat stream rendering', () => {
  afterEach(cleanup);

  it('shows the answer as its deltas arrive, and the tool step folded with its arguments and result', async () => {
    const stream = controlledStream();
    const fetch = vi.fn(async () => stream.response) as unknown as typeof globalThis.fetch;
    renderChat(fetch);
    expect(screen.getByText('Hello there')).toBeTruthy();
    stream.send('session', { sessionId: 's1', agent: 'writer' });
    stream.send('tool_call', { type: 'tool_call', toolCall: { id: 'call_1', name: 'lookup', arguments: '{"q":"weather"}' } }, 'm1:1');
    await screen.findByText(/running/);
    stream.send('tool_result', { type: 'tool_result', execution: { toolCallId: 'call_1', toolName: 'lookup', outcome: 'success', content: 'sunny' } }, 'm2:2');
    stream.send('text_delta', { text: 'It is ', messageId: 'm3' }, 'm3:3');
    await waitFor(() => expect(screen.getByTestId('assistant-message').textContent).toBe('It is '));
    stream.send('text_delta', { text: 'sunny.', messageId: 'm3' }, 'm3:4');
    await waitFor(() => expect(screen.getByTestId('assistant-message').textContent).toBe('It is sunny.'));
    expect(screen.getByRole('button', { name: 'Stop' }).hasAttribute('disabled')).toBe(false);
    stream.send('run_end', { type: 'run_end', result: { status: 'completed', finalContent: 'It is sunny.' } }, 'm3:5');
    stream.end();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Stop' }).hasAttribute('disabled')).toBe(true));
    const step = screen.getByText('lookup').closest('details');
    expect(step?.open).toBe(false);
    expect(step?.textContent).toContain('(done)');
    expect(step?.textContent).toContain('"q": "weather"');
    expect(step?.textContent).toContain('sunny');
    const [, request] = (fetch as unknown as ReturnType<typeof vi.fn>).mock.calls[0] as [string, RequestInit];
    expect(JSON.parse(String(request.body))).toEqual({ message: 'Hello there' });
  });

  it('stops: the request is aborted and the transcript says so', async () => {
    let signal: AbortSignal | undefined;
    const fetch = vi.fn(async (_url: string, init: RequestInit) => {
      signal = init.signal ?? undefined;
      const stream = controlledStream();
      signal?.addEventListener('abort', () => stream.end());
      stream.send('text_delta', { text: 'Once upon', messageId: 'm1' });
      return stream.response;
    }) as unknown as typeof globalThis.fetch;
    renderChat(fetch);
    await screen.findByText('Once upon');
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    await screen.findByText('Stopped.');
    expect(signal?.aborted).toBe(true);
  });

  it('shows a refused turn in plain words with its code', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ error: { code: 'access.denied', message: 'Not permitted: chat on writer.' } }), { status: 403 })) as unknown as typeof globalThis.fetch;
    renderChat(fetch);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Not permitted: chat on writer.');
    expect(alert.textContent).toContain('access.denied');
  });

  it('shows an error event that arrives after the stream began', async () => {
    const stream = controlledStream();
    renderChat(vi.fn(async () => stream.response) as unknown as typeof globalThis.fetch);
    stream.send('error', { error: { code: 'provider.unavailable', message: 'The model is unavailable.' } });
    stream.end();
    expect((await screen.findByRole('alert')).textContent).toContain('provider.unavailable');
  });

  it('shows a held call as a card with its exact preview; Accept decides it and the conversation goes on with the result', async () => {
    const first = controlledStream();
    const second = controlledStream();
    const seen: { url: string; body: unknown }[] = [];
    const fetch = vi.fn(async (url: string, init: RequestInit) => {
      seen.push({ url, body: init.body === undefined ? undefined : JSON.parse(String(init.body)) });
      if (url.endsWith('/approvals/act_1/accept')) return new Response(JSON.stringify({ id: 'act_1', status: 'applying' }), { status: 200 });
      return seen.filter((request) => request.url.endsWith('/chat')).length === 1 ? first.response : second.response;
    }) as unknown as typeof globalThis.fetch;
    renderChat(fetch);
    first.send('session', { sessionId: 's1', agent: 'writer' });
    first.send('tool_call', { type: 'tool_call', toolCall: { id: 'call_run', name: 'run_flow', arguments: '{"flow":"daily"}' } });
    first.send('approval_required', {
      type: 'approval_required',
      pending: { toolCall: { id: 'call_run', name: 'run_flow', arguments: '{"flow":"daily"}' }, reason: '"run_flow" waits for a person to approve it.' },
      action: { id: 'act_1', summary: 'Run flow "Daily" (daily) of agent "writer" now.', preview: { flow: { slug: 'daily', name: 'Daily' } }, input: { flow: 'daily' } },
    });
    first.send('run_end', { type: 'run_end', result: { status: 'approval_required' } });
    first.end();
    const card = await screen.findByRole('article', { name: 'Approval: Run flow "Daily" (daily) of agent "writer" now.' });
    expect(card.textContent).toContain('"slug": "daily"');
    await waitFor(() => expect(within(card).getByRole('button', { name: 'Accept' }).hasAttribute('disabled')).toBe(false));
    fireEvent.click(within(card).getByRole('button', { name: 'Accept' }));
    await within(card).findByText('Accepted.');
    await waitFor(() => expect(seen.filter((request) => request.url.endsWith('/chat'))).toHaveLength(2));
    expect(seen[1]).toEqual({ url: 'http://console.test/approvals/act_1/accept', body: {} });
    expect(seen[2]).toEqual({ url: 'http://console.test/agents/writer/chat', body: { sessionId: 's1' } });
    second.send('tool_result', { type: 'tool_result', execution: { toolCallId: 'call_run', toolName: 'run_flow', outcome: 'success', content: '{"id":"job_1"}' } });
    second.send('text_delta', { text: 'The flow is running.', messageId: 'm9' });
    second.send('run_end', { type: 'run_end', result: { status: 'completed' } });
    second.end();
    await waitFor(() => expect(screen.getByTestId('assistant-message').textContent).toBe('The flow is running.'));
    const step = screen.getByText('run_flow').closest('details');
    expect(step?.textContent).toContain('(done)');
    expect(step?.textContent).toContain('job_1');
    expect(within(card).queryByRole('button', { name: 'Accept' })).toBeNull();
  });

  it('rejects from the card and keeps the card open with the refusal when the decision is refused', async () => {
    const stream = controlledStream();
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('/reject') ? new Response(JSON.stringify({ error: { code: 'access.denied', message: 'Not permitted: approval.resolve on writer.' } }), { status: 403 }) : stream.response,
    ) as unknown as typeof globalThis.fetch;
    renderChat(fetch);
    stream.send('session', { sessionId: 's1', agent: 'writer' });
    stream.send('approval_required', { type: 'approval_required', pending: { toolCall: { id: 'call_run', name: 'run_flow' }, reason: '' }, action: { id: 'act_2', summary: 'Run flow daily.', preview: {}, input: {} } });
    stream.send('run_end', { type: 'run_end', result: { status: 'approval_required' } });
    stream.end();
    const card = await screen.findByRole('article', { name: 'Approval: Run flow daily.' });
    await waitFor(() => expect(within(card).getByRole('button', { name: 'Reject' }).hasAttribute('disabled')).toBe(false));
    fireEvent.click(within(card).getByRole('button', { name: 'Reject' }));
    expect((await screen.findByRole('alert')).textContent).toContain('access.denied');
    expect(within(card).getByRole('button', { name: 'Reject' })).toBeTruthy();
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('opens a stored session: its messages, tool steps and the card of a call still waiting for a decision', async () => {
    const fetch = vi.fn(async (url: string) => {
      if (url.endsWith('/chat/sessions/s1'))
        return new Response(
          JSON.stringify({
            session: { id: 's1' },
            messages: [
              { seq: 1, message: { id: 'm1', type: 'text', role: 'user', content: 'Run the daily flow.', payload: {} } },
              { seq: 2, message: { id: 'm2', type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [{ id: 'call_list', name: 'list_flows', arguments: '{}' }] } } },
              { seq: 3, message: { id: 'm3', type: 'tool_result', role: 'tool', content: '[{"slug":"daily"}]', payload: { toolCallId: 'call_list', toolName: 'list_flows', isError: false } } },
              { seq: 4, message: { id: 'm4', type: 'approval_required', role: 'assistant', content: 'waits', payload: { toolCall: { id: 'call_run', name: 'run_flow', arguments: '{}' }, reason: 'waits' } } },
            ],
          }),
          { status: 200 },
        );
      return new Response(JSON.stringify({ approvals: [{ id: 'act_1', sessionId: 's1', toolCallId: 'call_run', status: 'pending', summary: 'Run flow daily.', preview: { flow: 'daily' }, input: { flow: 'daily' } }], nextCursor: null }), { status: 200 });
    }) as unknown as typeof globalThis.fetch;
    render(<Chat agent="writer" sessionId="s1" baseUrl="http://console.test" fetch={fetch} />);
    expect(await screen.findByText('Run the daily flow.')).toBeTruthy();
    expect(screen.getByText('list_flows').closest('details')?.textContent).toContain('"slug":"daily"');
    const card = await screen.findByRole('article', { name: 'Approval: Run flow daily.' });
    expect(within(card).getByRole('button', { name: 'Accept' })).toBeTruthy();
    expect((fetch as unknown as ReturnType<typeof vi.fn>).mock.calls.map(([url]) => url)).toEqual(['http://console.test/agents/writer/chat/sessions/s1', 'http://console.test/approvals?agent=writer&session=s1&limit=200']);
  });
});
