/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
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
});
