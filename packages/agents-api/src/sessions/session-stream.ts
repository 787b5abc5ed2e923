import { AgentsApiError } from '../errors';
import type { ConversationEvent, ConversationRequest, ConversationResult, RunOptions } from '../runner/conversation-runner';
import { EventChannel } from '../runner/event-channel';
import type { SessionOwner, TranscriptSession, TranscriptStore } from '../transcripts/transcript-store';
import type { RunRecord } from '../transcripts/run-record';
import { checkAgent, currentSession } from './session-attempt';
import { finishRunRecord } from './session-run-record';
import { createFencedPersister, defaultLeaseTtlMs, storeCall, withLeaseOutcome, withSessionLease, type SessionLease } from './session-lease';
import {
  checkOwner,
  parseInput,
  type ResumeSessionRequest,
  type SessionRunnerOptions,
  type SessionRunResult,
  type StartSessionRequest,
} from './session-runner';

/**
 * One event of a durable stream and its SSE id. `id` is `<cursor>.<index>`:
 * `cursor` is the id of the last stored message the consumer has been sent
 * whole (a `message` event, or the session's last message when the run
 * began), `index` the event's index in its run. Give `id` to
 * {@link SessionStreams.replay} as `lastEventId` to get the messages stored
 * after what the consumer saw.
 */
export interface SessionStreamEvent {
  readonly id: string;
  readonly event: ConversationEvent;
}

/**
 * A durable run, streamed. The run begins when iteration begins and holds
 * the session's lock until it ends. Leaving the loop (`break`, a throw)
 * cancels the run: the messages completed so far are stored, the turn in
 * progress stores nothing, and the lock is released before the loop exits.
 * Iterate it once; a stream that will not be iterated must be `cancel`led,
 * or its lock is held until it expires.
 */
export interface SessionStream extends AsyncIterable<SessionStreamEvent> {
  /** The session as it was when the run was set up (for `start`: the new session). */
  readonly session: TranscriptSession;
  /**
   * Settles when the run has ended and its lock is released: the session as
   * it now is and the run's result (`cancelled` when the consumer left).
   * Rejects only when the stream failed; it never goes unhandled.
   */
  readonly result: Promise<SessionRunResult>;
  /** Releases the lock of a stream that was never iterated; does nothing once iteration has begun. */
  cancel(): Promise<void>;
}

/** Durable runs that stream their events as they happen. */
export interface SessionStreams {
  /**
   * Creates the session, stores the input, takes the lock and resolves to
   * the stream: refusals (an invalid request, a locked session) reject here,
   * before any event, so a server can still answer with an error status.
   */
  start(request: StartSessionRequest, options?: RunOptions): Promise<SessionStream>;
  /** As `start`, for a stored session; the same rules as {@link SessionRunner.resume}. */
  resume(request: ResumeSessionRequest, options?: RunOptions): Promise<SessionStream>;
  /**
   * What a consumer that reconnects missed: the messages stored after the
   * cursor of `lastEventId`, each as a `message` event, with ids that go on
   * from it. Only stored messages are replayable: text and tool-call deltas
   * of a message whose turn never completed were never stored and are not
   * replayed (a consumer drops such a partial message when it reconnects).
   * Throws `transcript.invalid_request` for an id that is not a cursor of
   * this session.
   */
  replay(owner: SessionOwner, sessionId: string, lastEventId: string): AsyncIterable<SessionStreamEvent>;
}


/** The durable streams of a session runner; `createSessionRunner(...).stream` is one. */
export function createSessionStreams(options: SessionRunnerOptions): SessionStreams {
  const lockTtlMs = options.lockTtlMs ?? defaultLeaseTtlMs;
  const { store } = options;

  /** Everything a stream needs once its session is locked. */
  interface Prepared {
    readonly owner: SessionOwner;
    readonly session: TranscriptSession;
    /** The run's record, begun under the lease; the stream's ending is recorded on it. */
    readonly run: RunRecord;
    readonly request: ConversationRequest;
    /** The session's last stored message before the run. */
    readonly cursor: string | null;
    readonly runOptions: RunOptions;
  }

  /** A stream over a held lease; `release` ends the lease (and resolves once the lock is given back). */
  function open(prepared: Prepared, lease: SessionLease, release: () => Promise<void>): SessionStream {
    const { owner, session } = prepared;
    let state: 'ready' | 'running' | 'done' = 'ready';
    let settle!: (outcome: SessionRunResult) => void;
    let fail!: (error: unknown) => void;
    const result = new Promise<SessionRunResult>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // Nobody has to wait for the result; a failure also reaches the consumer's loop.
    result.catch(() => undefined);
    const runner = options.createRunner(createFencedPersister(store, owner, lease));

    async function* events(): AsyncGenerator<SessionStreamEvent, void> {
      if (state !== 'ready') throw new AgentsApiError('transcript.invalid_request', 'A session stream can be iterated once.');
      state = 'running';
      const channel = new EventChannel<SessionStreamEvent>();
      const consumerLeft = new AbortController();
      const { signal } = prepared.runOptions;
      const runSignal = AbortSignal.any(signal ? [signal, consumerLeft.signal, lease.signal] : [consumerLeft.signal, lease.signal]);
      // The run goes on in its own loop, so that it ends (and says how) even after the consumer left.
      const startedAt = Date.now();
      const running = (async (): Promise<ConversationResult> => {
        let ended: ConversationResult | undefined;
        try {
          let cursor = prepared.cursor ?? '';
          for await (const event of runner.stream(prepared.request, { signal: runSignal })) {
            if (event.type === 'message') cursor = event.message.id;
            else if (event.type === 'run_end') ended = event.result;
            await channel.push({ id: `${cursor}.${event.index}`, event });
          }
        } finally {
          await release();
        }
        if (!ended) throw new AgentsApiError('runner.seam_failed', 'The run ended without a run_end event.');
        const outcome = withLeaseOutcome(ended, lease);
        await storeCall(() => finishRunRecord(store, owner, prepared.run, outcome, Date.now() - startedAt)).catch(() => undefined);
        return outcome;
      })();
      running.then(
        (ended) => {
          channel.close();
          // Read for `result` only: the consumer's loop does not wait for it.
          storeCall(() => currentSession(store, owner, session.id)).then((current) => settle({ session: current, result: ended, runId: prepared.run.id }), fail);
        },
        (error: unknown) => {
          channel.close({ error });
          fail(error);
        },
      );
      try {
        yield* channel.values();
      } finally {
        if (channel.consumerGone) consumerLeft.abort();
        state = 'done';
        // The lock is free and the transcript final before the consumer's loop goes on.
        await running.catch(() => undefined);
      }
    }

    return {
      session,
      result,
      [Symbol.asyncIterator]: () => events(),
      async cancel() {
        if (state !== 'ready') return;
        state = 'done';
        await release();
        fail(new AgentsApiError('transcript.invalid_request', 'The session stream was cancelled before it began.'));
      },
    };
  }

  /**
   * Runs `setUp` under a fresh, renewed lease (fenced writes, renewal, release:
   * `session-lease.ts`) and opens the stream on it; the lease is given back
   * if `setUp` fails, and otherwise when the stream ends. Nothing is read or
   * written before the lock is held: a read made before could miss what a
   * run that held it last wrote.
   */
  function locked(owner: SessionOwner, sessionId: string, setUp: (lease: SessionLease) => Promise<Prepared>): Promise<SessionStream> {
    return new Promise<SessionStream>((resolve, reject) => {
      let finish!: () => void;
      const finished = new Promise<void>((done) => (finish = done));
      const leased = withSessionLease(store, owner, sessionId, { ttlMs: lockTtlMs }, async (lease) => {
        const prepared = await setUp(lease);
        resolve(
          open(prepared, lease, async () => {
            finish();
            await leased.catch(() => undefined);
          }),
        );
        await finished;
      });
      // Acquisition and set-up failures reject the stream; after it opened, errors reach its result.
      leased.catch(reject);
    });
  }

  return {
    async start(request, runOptions = {}) {
      const { owner, session: newSession, input: _input, ...fields } = request;
      checkOwner(owner, fields.principal);
      const input = parseInput(request.input);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      // The session and its input in one transaction: a refused input leaves no empty session.
      const session = await storeCall(() => store.createSession(owner, newSession, { messages: input }));
      return locked(owner, session.id, async () => {
        const { run } = await storeCall(() => store.beginRun(owner, session.id, { agentSlug: session.agentSlug, seqAtStart: 0 }));
        return { owner, session, run, request: { ...fields, messages: input }, cursor: input.at(-1)?.id ?? null, runOptions };
      });
    },

    async resume(request, runOptions = {}) {
      const { owner, sessionId, approvals, input: _input, ...fields } = request;
      if (!store.durable) {
        throw new AgentsApiError('transcript.not_durable', `This transcript store keeps nothing across restarts, so session "${sessionId}" cannot be resumed.`, {
          details: { sessionId },
        });
      }
      checkOwner(owner, fields.principal);
      const input = parseInput(request.input ?? []);
      return locked(owner, sessionId, async (lease) => {
        const [session, stored] = await Promise.all([storeCall(() => currentSession(store, owner, sessionId)), storeCall(() => store.loadMessages(owner, sessionId))]);
        checkAgent(session, fields.principal.agentSlug);
        if (input.length > 0) await storeCall(() => store.append(owner, sessionId, input, undefined, { lockToken: lease.token }));
        const messages = [...stored.map((entry) => entry.message), ...input];
        const conversation: ConversationRequest = { ...fields, messages, ...(approvals ? { approvals } : {}) };
        const { run } = await storeCall(() => store.beginRun(owner, sessionId, { agentSlug: session.agentSlug, seqAtStart: session.lastSeq }));
        return { owner, session, run, request: conversation, cursor: messages.at(-1)?.id ?? null, runOptions };
      });
    },

    replay: (owner, sessionId, lastEventId) => replayAfter(store, owner, sessionId, lastEventId),
  };
}

async function* replayAfter(store: TranscriptStore, owner: SessionOwner, sessionId: string, lastEventId: string): AsyncGenerator<SessionStreamEvent, void> {
  const { cursor, index } = parseEventId(lastEventId);
  const stored = await storeCall(() => store.loadMessages(owner, sessionId));
  // An empty cursor: the session had no message when the run began, so everything is new.
  const seen = cursor === '' ? -1 : stored.findIndex((entry) => entry.message.id === cursor);
  if (seen === -1 && cursor !== '') {
    throw new AgentsApiError('transcript.invalid_request', `"${lastEventId}" names no message of session "${sessionId}".`, { details: { sessionId, lastEventId } });
  }
  let next = index + 1;
  for (const { message } of stored.slice(seen + 1)) {
    const event: ConversationEvent = { type: 'message', index: next, messageId: message.id, message };
    yield { id: `${message.id}.${next}`, event };
    next += 1;
  }
}

function parseEventId(eventId: string): { readonly cursor: string; readonly index: number } {
  const dot = eventId.lastIndexOf('.');
  const index = Number(eventId.slice(dot + 1));
  if (dot === -1 || !Number.isSafeInteger(index) || index < 0) {
    throw new AgentsApiError('transcript.invalid_request', `"${eventId}" is not a session stream event id.`, { details: { lastEventId: eventId } });
  }
  return { cursor: eventId.slice(0, dot), index };
}
