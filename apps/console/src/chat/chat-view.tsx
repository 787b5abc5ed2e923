import { useReducer, useRef, useState, type FormEvent } from 'react';
import { toApiError } from '../api/api-error';
import { csrfToken, type paths } from '../api/client';
import { Button, TextArea } from '../components/ui';
import { chatReducer, emptyChat, type ChatItem, type ChatState } from './chat-state';
import { readServerSentEvents } from './server-sent-events';

/** The body of one chat turn, as the server's OpenAPI document declares it. */
export type ChatTurnBody = NonNullable<paths['/agents/{agent}/chat']['post']['requestBody']>['content']['application/json'];

/** The transcript: messages, tool steps folded open on demand, approval requests, and how the run ended. */
export function ChatTranscript({ state }: { readonly state: ChatState }) {
  return (
    <div className="transcript" aria-live="polite" aria-busy={state.status === 'streaming'}>
      {state.items.map((item) => (
        <TranscriptItem key={item.key} item={item} />
      ))}
      {state.status === 'streaming' && <p className="typing">The agent is answering…</p>}
      {state.status === 'stopped' && <p className="notice">Stopped.</p>}
      {state.error !== undefined && (
        <div role="alert" className="notice notice-error">
          {state.error.message} <code>{state.error.code}</code>
        </div>
      )}
    </div>
  );
}

function TranscriptItem({ item }: { readonly item: ChatItem }) {
  switch (item.kind) {
    case 'user':
      return (
        <div className="bubble bubble-user">
          <span className="sr-only">You: </span>
          {item.text}
        </div>
      );
    case 'assistant':
      return (
        <div className="bubble bubble-assistant" data-testid="assistant-message">
          {item.text}
        </div>
      );
    case 'tool':
      return (
        <details className={`tool-step${item.failed ? ' tool-step-failed' : ''}`}>
          <summary>
            Tool <code>{item.name}</code> {item.result === undefined ? '(running…)' : item.failed ? '(failed)' : '(done)'}
          </summary>
          <p>Arguments</p>
          <pre>{item.arguments}</pre>
          {item.result !== undefined && (
            <>
              <p>Result</p>
              <pre>{item.result}</pre>
            </>
          )}
        </details>
      );
    case 'approval':
      return (
        <div className="notice approval">
          <strong>Waiting for approval:</strong> <code>{item.name}</code> {item.reason}
        </div>
      );
  }
}

/** What the chat needs: the agent, and where the server is (the page's own origin by default). */
export interface ChatProps {
  readonly agent: string;
  readonly tenant?: string | undefined;
  readonly baseUrl?: string;
  readonly fetch?: typeof globalThis.fetch;
}

/**
 * Chat with an agent: each message runs one turn of the session, streamed
 * from `POST /agents/{agent}/chat`; Stop aborts the request, which cancels the run.
 */
export function Chat({ agent, tenant, baseUrl = window.location.origin, fetch = globalThis.fetch.bind(globalThis) }: ChatProps) {
  const [state, dispatch] = useReducer(chatReducer, emptyChat);
  const [draft, setDraft] = useState('');
  const running = useRef<AbortController | undefined>(undefined);

  async function send(event: FormEvent) {
    event.preventDefault();
    const message = draft.trim();
    if (message === '' || state.status === 'streaming') return;
    setDraft('');
    dispatch({ type: 'send', text: message });
    const controller = new AbortController();
    running.current = controller;
    const body: ChatTurnBody = { message, ...(state.sessionId === undefined ? {} : { sessionId: state.sessionId }) };
    try {
      const response = await fetch(`${baseUrl}/agents/${encodeURIComponent(agent)}/chat`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-csrf-token': csrfToken() ?? '', ...(tenant === undefined ? {} : { 'x-tenant': tenant }) },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok || response.body === null) {
        const error = toApiError(response.status, await response.json().catch(() => undefined));
        dispatch({ type: 'failed', code: error.code, message: error.message });
        return;
      }
      for await (const received of readServerSentEvents(response.body)) dispatch({ type: 'event', event: received });
      dispatch(controller.signal.aborted ? { type: 'stopped' } : { type: 'ended' });
    } catch (error) {
      if (controller.signal.aborted) dispatch({ type: 'stopped' });
      else dispatch({ type: 'failed', code: 'network.unreachable', message: error instanceof Error ? `The connection was lost: ${error.message}` : 'The connection was lost.' });
    } finally {
      running.current = undefined;
    }
  }

  return (
    <div className="chat">
      <ChatTranscript state={state} />
      <form className="chat-form" onSubmit={(event) => void send(event)}>
        <TextArea
          label="Message"
          name="message"
          rows={3}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && !event.shiftKey) void send(event);
          }}
        />
        <div className="actions">
          <Button type="submit" variant="primary" disabled={state.status === 'streaming' || draft.trim() === ''}>
            Send
          </Button>
          <Button variant="danger" disabled={state.status !== 'streaming'} onClick={() => running.current?.abort()}>
            Stop
          </Button>
        </div>
      </form>
    </div>
  );
}
