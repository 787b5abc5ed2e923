import { useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { toApiError } from '../api/api-error';
import { csrfToken, type paths } from '../api/client';
import { Button, TextArea } from '../components/ui';
import { chatReducer, emptyChat, itemsFromMessages, type ChatItem, type ChatState, type StoredAction } from './chat-state';
import { readServerSentEvents } from './server-sent-events';

/** The body of one chat turn, as the server's OpenAPI document declares it. */
export type ChatTurnBody = NonNullable<paths['/agents/{agent}/chat']['post']['requestBody']>['content']['application/json'];

/** Accepting or rejecting a held call from its card. */
export type DecideApproval = (item: Extract<ChatItem, { kind: 'approval' }>, decision: 'accept' | 'reject') => void;

/** The transcript: messages, tool steps folded open on demand, approval cards, and how the run ended. */
export function ChatTranscript({ state, onDecide }: { readonly state: ChatState; readonly onDecide?: DecideApproval | undefined }) {
  return (
    <div className="transcript" aria-live="polite" aria-busy={state.status === 'streaming'}>
      {state.items.map((item) => (item.kind === 'approval' ? <ApprovalCard key={item.key} item={item} onDecide={onDecide} busy={state.status === 'streaming'} /> : <TranscriptItem key={item.key} item={item} />))}
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
      return null;
  }
}

/**
 * A held call as a card: the pending action's summary and its exact preview,
 * with Accept and Reject while it waits; once decided, what was decided (the
 * tool's result then arrives as a step of the conversation).
 */
export function ApprovalCard({ item, onDecide, busy = false }: { readonly item: Extract<ChatItem, { kind: 'approval' }>; readonly onDecide?: DecideApproval | undefined; readonly busy?: boolean }) {
  const { action } = item;
  return (
    <article className="notice approval approval-card" aria-label={`Approval: ${action?.summary ?? item.name}`}>
      <header>
        <strong>{action?.summary ?? `Waiting for approval: ${item.name}`}</strong>
      </header>
      {item.reason !== '' && <p>{item.reason}</p>}
      {action !== undefined && (
        <>
          <p>What will run</p>
          <pre className="json">{JSON.stringify(action.preview, null, 2)}</pre>
        </>
      )}
      {item.decision === 'accepted' && <p>Accepted.</p>}
      {item.decision === 'rejected' && <p>Rejected.</p>}
      {action !== undefined && onDecide !== undefined && (item.decision === 'pending' || item.decision === 'sending') && (
        <div className="actions">
          <Button variant="primary" disabled={busy || item.decision === 'sending'} onClick={() => onDecide(item, 'accept')}>
            Accept
          </Button>
          <Button variant="danger" disabled={busy || item.decision === 'sending'} onClick={() => onDecide(item, 'reject')}>
            Reject
          </Button>
        </div>
      )}
    </article>
  );
}

/** What the chat needs: the agent, and where the server is (the page's own origin by default). */
export interface ChatProps {
  readonly agent: string;
  readonly tenant?: string | undefined;
  /** A stored session to open and go on with; a new session otherwise. */
  readonly sessionId?: string | undefined;
  /** Told when a turn started a session (or went on with one). */
  readonly onSession?: ((sessionId: string) => void) | undefined;
  readonly baseUrl?: string;
  readonly fetch?: typeof globalThis.fetch;
}

interface StoredSession {
  readonly messages: readonly { readonly message: Record<string, unknown> }[];
}

/**
 * Chat with an agent: each message runs one turn of the session, streamed
 * from `POST /agents/{agent}/chat`; Stop aborts the request, which cancels the
 * run. A held call shows as a card: Accept or Reject decides its pending action
 * (`POST /approvals/{id}/accept|reject`); once no card waits, a turn without a
 * message applies the decisions and the conversation goes on.
 */
export function Chat({ agent, tenant, sessionId, onSession, baseUrl = window.location.origin, fetch = globalThis.fetch.bind(globalThis) }: ChatProps) {
  const [state, dispatch] = useReducer(chatReducer, emptyChat);
  const [draft, setDraft] = useState('');
  const running = useRef<AbortController | undefined>(undefined);
  const headers = { 'content-type': 'application/json', 'x-csrf-token': csrfToken() ?? '', ...(tenant === undefined ? {} : { 'x-tenant': tenant }) };
  const agentPath = `${baseUrl}/agents/${encodeURIComponent(agent)}`;

  useEffect(() => {
    if (sessionId === undefined) return;
    let current = true;
    void (async () => {
      try {
        const [session, approvals] = await Promise.all([
          readJson<StoredSession>(await fetch(`${agentPath}/chat/sessions/${encodeURIComponent(sessionId)}`, { credentials: 'same-origin', headers })),
          readJson<{ readonly approvals: readonly StoredAction[] }>(
            await fetch(`${baseUrl}/approvals?agent=${encodeURIComponent(agent)}&session=${encodeURIComponent(sessionId)}&limit=200`, { credentials: 'same-origin', headers }),
          ).catch(() => ({ approvals: [] })),
        ]);
        const actions = approvals.approvals;
        if (current) dispatch({ type: 'opened', sessionId, items: itemsFromMessages(session.messages.map((stored) => stored.message), actions) });
      } catch (error) {
        const failure = isApiFailure(error) ? error : { code: 'network.unreachable', message: 'The session could not be read.' };
        if (current) dispatch({ type: 'failed', ...failure });
      }
    })();
    return () => {
      current = false;
    };
    // Opened once per session: the parent gives each opened session its own key.
  }, [sessionId]);

  async function runTurn(body: ChatTurnBody) {
    const controller = new AbortController();
    running.current = controller;
    try {
      const response = await fetch(`${agentPath}/chat`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { ...headers, accept: 'text/event-stream' },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok || response.body === null) {
        const error = toApiError(response.status, await response.json().catch(() => undefined));
        dispatch({ type: 'failed', code: error.code, message: error.message });
        return;
      }
      for await (const received of readServerSentEvents(response.body)) {
        dispatch({ type: 'event', event: received });
        if (received.event === 'session') {
          const started = sessionOf(received.data);
          if (started !== undefined) onSession?.(started);
        }
      }
      dispatch(controller.signal.aborted ? { type: 'stopped' } : { type: 'ended' });
    } catch (error) {
      if (controller.signal.aborted) dispatch({ type: 'stopped' });
      else dispatch({ type: 'failed', code: 'network.unreachable', message: error instanceof Error ? `The connection was lost: ${error.message}` : 'The connection was lost.' });
    } finally {
      running.current = undefined;
    }
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    const message = draft.trim();
    if (message === '' || state.status === 'streaming') return;
    setDraft('');
    dispatch({ type: 'send', text: message });
    await runTurn({ message, ...(state.sessionId === undefined ? {} : { sessionId: state.sessionId }) });
  }

  const decide: DecideApproval = (item, decision) => {
    const action = item.action;
    const session = state.sessionId;
    if (action === undefined || session === undefined) return;
    dispatch({ type: 'decision', toolCallId: item.toolCallId, decision: 'sending' });
    void (async () => {
      try {
        await readJson(await fetch(`${baseUrl}/approvals/${encodeURIComponent(action.id)}/${decision}`, { method: 'POST', credentials: 'same-origin', headers, body: '{}' }));
      } catch (error) {
        dispatch({ type: 'decision', toolCallId: item.toolCallId, decision: 'pending' });
        const failure = isApiFailure(error) ? error : { code: 'network.unreachable', message: 'The decision could not be sent.' };
        dispatch({ type: 'failed', ...failure });
        return;
      }
      dispatch({ type: 'decision', toolCallId: item.toolCallId, decision: decision === 'accept' ? 'accepted' : 'rejected' });
      // The session goes on once no held call of it waits: the server applies every decision in one turn.
      const waiting = state.items.some((other) => other.kind === 'approval' && other.toolCallId !== item.toolCallId && other.action !== undefined && other.decision === 'pending');
      if (waiting) return;
      dispatch({ type: 'continue' });
      await runTurn({ sessionId: session });
    })();
  };

  return (
    <div className="chat">
      <ChatTranscript state={state} onDecide={decide} />
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

interface ApiFailure {
  readonly code: string;
  readonly message: string;
}

function isApiFailure(value: unknown): value is ApiFailure {
  return typeof value === 'object' && value !== null && typeof (value as ApiFailure).code === 'string' && typeof (value as ApiFailure).message === 'string';
}

/** The JSON of a successful answer; a refusal thrown in the API's error shape. */
async function readJson<T>(response: Response): Promise<T> {
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) throw toApiError(response.status, body);
  return body as T;
}

function sessionOf(data: string): string | undefined {
  try {
    const parsed = JSON.parse(data) as { sessionId?: unknown };
    return typeof parsed.sessionId === 'string' ? parsed.sessionId : undefined;
  } catch {
    return undefined;
  }
}
