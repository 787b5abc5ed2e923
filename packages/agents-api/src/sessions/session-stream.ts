import { AgentsApiError } from '../errors';
import type { AgentMessage } from '../messages/message';
import type { ConversationEvent, ConversationRequest, ConversationResult, ConversationRunner, RunOptions, TranscriptPersister } from '../runner/conversation-runner';
import { EventChannel } from '../runner/event-channel';
import { stoppableStream } from '../runner/stoppable-stream';
import { sessionLocked, type NewSession, type SessionOwner, type TranscriptSession, type TranscriptStore } from '../transcripts/transcript-store';
import type { RunRecord } from '../transcripts/run-record';
import { checkStorable } from '../transcripts/internal/storable-input';
import { checkedOpenSession, defaultSessionId, parseOpenedSession, parseTtl } from '../transcripts/internal/transcript-store-rules';
import { checkAgent, currentSession, prepareAttempt, type AttemptPlan } from './session-attempt';
import { EventOutbox } from './session-event-outbox';
import { endRunWithAnswer, holdingLastAnswer, withoutUnstored, type LastWrite } from './session-last-write';
import { exhaustedResult } from './session-run-record';
import { createFencedPersister, defaultLeaseTtlMs, holdLease, storeCall, takeLease, withLeaseOutcome, type HeldLease, type SessionLease } from './session-lease';
import {
  checkOwner,
  keyedSessionId,
  parseInput,
  parseKey,
  type RunFields,
  type ResumeSessionRequest,
  type SessionRunnerOptions,
  type SessionRunResult,
  type StartSessionRequest,
} from './session-request';

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
 * A durable run, streamed. The run begins as soon as the stream is made
 * (its events wait for the consumer, one at a time) and holds the session's
 * lock until it ends. Leaving the loop (`break`, a throw) cancels the run:
 * the messages completed so far are stored, the turn in progress stores
 * nothing, and the lock is released before the loop exits. Iterate it once;
 * a stream that will not be iterated must be `cancel`led, or its run waits
 * (holding its lock) for a consumer that never comes.
 */
export interface SessionStream extends AsyncIterable<SessionStreamEvent> {
  /** The session as it was when the run was set up (for `start`: the new session). */
  readonly session: TranscriptSession;
  /**
   * Settles when the run has ended and its lock is released: the session as
   * it then is and the run's result (`cancelled` when the consumer left).
   * Rejects only when the stream failed; it never goes unhandled. Made when
   * first read: a caller that never reads it costs the store nothing after
   * the run (a run that ends without an answer would otherwise read its session).
   */
  readonly result: Promise<SessionRunResult>;
  /** Cancels the run of a stream that was never iterated (it ends `cancelled`) and releases its lock; does nothing once iteration has begun. */
  cancel(): Promise<void>;
}

/** Durable runs that stream their events as they happen. */
export interface SessionStreams {
  /**
   * Creates the session, stores the input, takes the lock and resolves to
   * the stream: refusals (an invalid request, a locked session) reject here,
   * before any event, so a server can still answer with an error status.
   * Without an idempotency key the first model call starts at once, beside
   * the store's one-statement set-up (nothing is written unless it succeeds).
   * Without a key and without `session.id`, the runner draws the id and
   * `start` resolves without waiting for the set-up: the first events may come
   * before the store has answered, and a set-up the store then fails (a fresh
   * id can only fail with the store) ends the stream with the store's error,
   * nothing stored and no tool run; `session` is the requested session until
   * the store's answer replaces it. What the store would refuse of the request
   * itself still rejects `start`.
   * With one (`session.id` required), a retry of a start whose run ended
   * streams that run's messages and result again: no model call, nothing stored.
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
  // Checked once, as a store checks a lease time, so each start's open request is checked whole.
  const leaseOptions = { ttlMs: parseTtl(options.lockTtlMs ?? defaultLeaseTtlMs) };
  const { store } = options;
  const now = options.now ?? Date.now;
  /**
   * The opens of early starts still in flight, by session id. On a pooled store a
   * statement sent first may still arrive second (another connection, made on
   * demand), so a run of the same session this runner is asked for next waits for
   * the open to settle: a `resume` right after `start` sees the session the open
   * made, locked by its run, never a session that does not exist yet.
   */
  const openingSessions = new Map<string, Promise<void>>();

  /**
   * A new session, fast: the first model call starts while one statement
   * creates the session, stores the input, takes the lease and begins the run
   * (`openSession`). The call has no side effects; every write of the run
   * (and so every tool, which runs only after its call is stored) waits for
   * the lease, and a refused open aborts the run with nothing written. See
   * docs/decisions/2026-11-30-durable-streaming.md, "Cost".
   */
  async function startEarly(owner: SessionOwner, newSession: NewSession, input: readonly AgentMessage[], fields: RunFields, runOptions: RunOptions): Promise<SessionStream> {
    // A fresh id cannot be taken, so only a store failure can refuse the open: the stream
    // need not wait for it (see "Events before the open" in the decision note).
    const early = newSession.id === undefined;
    // What the store would refuse of the request is refused here, before any event (the
    // input's schema was checked by `start`; what a store can keep is checked here), and
    // only here: this package's stores take the request as checked (`checkedOpenSession`).
    const requested = parseOpenedSession(newSession, checkStorable(input, 'messages'));
    // The parse's own copy; the id drawn here is well formed by construction, so it is not checked.
    if (early) requested.id = defaultSessionId();
    const openRequest = checkedOpenSession({
      session: requested,
      messages: input,
      ttlMs: leaseOptions.ttlMs,
      run: { seqAtStart: 0 },
      durability: 'with_next_write',
    });
    let grant!: (lease: SessionLease) => void;
    let refuse!: (error: unknown) => void;
    const fenced = new Promise<TranscriptPersister>((resolve, reject) => {
      grant = (lease) => resolve(createFencedPersister(store, owner, lease));
      refuse = reject;
    });
    // Only a run that got as far as a write waits on it; an unread refusal must not go unhandled.
    fenced.catch(() => undefined);
    const persister: TranscriptPersister = { persist: async (messages, state) => (await fenced).persist(messages, state) };
    // What waits goes first: the model call when events need not wait for the open (then only
    // the run's first write waits for it), else the open, whose round trip `start` waits on.
    const open = () => storeCall(() => store.openSession(owner, openRequest));
    const openedFirst = early ? undefined : open();
    const launched = launch(options.createRunner, persister, { ...fields, messages: input }, runOptions, input.at(-1)?.id ?? '');
    // Early: sent once the model request is on the wire (`afterModelRequest`); a resume or a
    // replay of this session the caller asks for meanwhile waits for it (`openingSessions`).
    const opened = openedFirst ?? afterModelRequest(open);
    if (early) {
      const id = requested.id ?? '';
      const settled = opened.then(
        () => undefined,
        () => undefined,
      );
      openingSessions.set(id, settled);
      void settled.then(() => openingSessions.delete(id));
    }
    const setUp = opened.then((opening): RunSetUp => {
      if (!opening.opened) throw sessionLocked(requested.id ?? '(new)', opening.expiresAt);
      const held = holdLease(store, owner, opening.session.id, opening.lease, leaseOptions);
      grant(held.lease);
      return { session: opening.session, run: opening.run.run, held };
    });
    setUp.catch((error: unknown) => {
      refuse(error);
      if (!early) launched.abandon();
    });
    if (early) return openStream(owner, plannedSession(owner, requested, input.length, now()), setUp, launched);
    const ready = await setUp;
    return openStream(owner, ready.session, Promise.resolve(ready), launched);
  }

  /** A run of a stored session (or a keyed start): under a taken lease, prepared as `run()` prepares it. */
  async function attemptStream(owner: SessionOwner, sessionId: string, plan: AttemptPlan, runOptions: RunOptions): Promise<SessionStream> {
    const stillOpening = openingSessions.get(sessionId);
    if (stillOpening !== undefined) await stillOpening;
    const held = await takeLease(store, owner, sessionId, leaseOptions);
    try {
      const prepared = await prepareAttempt(store, owner, held.lease, plan, runOptions, now);
      if (prepared.status === 'ended') {
        await giveBack(owner, held);
        return endedStream(store, owner, prepared.outcome);
      }
      const { exhausted } = prepared;
      const makeRunner = exhausted === undefined ? options.createRunner : () => resultOnly(exhaustedResult(exhausted));
      const launched = launch(makeRunner, prepared.persister, prepared.request, prepared.runOptions, prepared.request.messages.at(-1)?.id ?? '');
      return openStream(owner, prepared.session, Promise.resolve({ session: prepared.session, run: prepared.run, held }), launched);
    } catch (error) {
      await giveBack(owner, held);
      throw error;
    }
  }

  async function giveBack(owner: SessionOwner, held: HeldLease): Promise<void> {
    held.stop();
    // A lease that cannot be released expires on its own.
    await store.releaseLock(owner, held.lease.sessionId, held.lease.token).catch(() => undefined);
  }

  /**
   * Starts the run now, its events waiting one at a time for a consumer. Its
   * possible last answer is held back (`holdingLastAnswer`) with its
   * `message` event, and its `run_end` is not sent: the stream's end writes
   * the answer with the run's ending and sends both (see {@link openStream}).
   */
  function launch(makeRunner: (persister: TranscriptPersister) => ConversationRunner, persister: TranscriptPersister, request: ConversationRequest, runOptions: RunOptions, cursorAtStart: string): Launched {
    const channel = new EventChannel<SessionStreamEvent>({ bufferBeforeConsumer: eventsBeforeConsumer });
    // Nothing is written before a consumer reads (or the stream is cancelled): a stream
    // that is never read keeps its run at its first write, as a run waits for a slow consumer.
    let arrive!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const lastWrite = holdingLastAnswer({ persist: async (messages, state) => (await arrived, persister.persist(messages, state)) }, { writeBehind: true });
    const outbox = new EventOutbox(channel);
    // Follows the caller's signal; stopped by us on the loop's own controller (see `stoppableStream`).
    const run = stoppableStream(makeRunner(lastWrite.persister), request, runOptions.signal);
    const startedAt = now();
    const ended = (async (): Promise<RunTail> => {
      let cursor = cursorAtStart;
      let held: { readonly entry: SessionStreamEvent; readonly cursorBefore: string } | undefined;
      for await (const event of run.events) {
        if (held && !lastWrite.holds(held.entry.event.messageId ?? '')) {
          // A later write stored the held answer first (or failed to, and the run says so).
          if (lastWrite.written(held.entry.event.messageId ?? '')) await outbox.send(held.entry);
          else cursor = held.cursorBefore;
          held = undefined;
        }
        if (event.type === 'run_end') {
          // What waits behind a write goes out (or is dropped, and the cursor goes back) first.
          await outbox.drained();
          return { result: event.result, index: event.index, messageId: event.messageId, cursor, held };
        }
        const cursorBefore = cursor;
        if (event.type === 'message') cursor = event.message.id;
        const entry = { id: `${cursor}.${event.index}`, event };
        const behind = event.type === 'message' ? lastWrite.behind(event.message.id) : undefined;
        if (event.type === 'message' && lastWrite.holds(event.message.id)) held = { entry, cursorBefore };
        else if (behind) await outbox.hold(entry, behind, () => (cursor = cursorBefore));
        else await outbox.send(entry);
      }
      throw new AgentsApiError('runner.seam_failed', 'The run ended without a run_end event.');
    })();
    ended.catch(() => undefined);
    void ended.then(run.unlink, run.unlink);
    let unread = true;
    return {
      channel,
      ended,
      lastWrite,
      startedAt,
      arrived,
      get unread() {
        return unread;
      },
      read() {
        unread = false;
        arrive();
      },
      stop: () => run.stop(),
      abandon() {
        run.stop();
        channel.abandon();
        arrive();
      },
    };
  }

  /**
   * The run's last write: its held answer (if any), its record's ending and
   * the lease's release, in one statement; then the answer's `message` event
   * and `run_end`. An answer the store refuses is not sent, and the run ends
   * `failed` with the store's code (a lost lease: `transcript.lease_lost`).
   */
  async function endRun(owner: SessionOwner, run: RunRecord, launched: Launched, held: HeldLease, tail: RunTail): Promise<EndedRun> {
    await launched.arrived;
    const { lease } = held;
    held.stop();
    let outcome = withLeaseOutcome(tail.result, lease);
    // Results written behind that did not land: the run ends failed with the store's code, as a
    // later write would have made it (unless it already failed, with that write's reason).
    const lost = await launched.lastWrite.settle();
    if (lost && outcome.status !== 'failed') outcome = withoutUnstored(outcome, lost.messages, lost.error);
    let cursor = tail.cursor;
    const heldAnswer = launched.lastWrite.take();
    // Cancelled before anyone read it, or left by its consumer before the end (the run may have
    // run ahead of a consumer while events waited behind a write): whatever the run got to,
    // nothing more of it is stored, as when a consumer leaves a run it paces.
    const unsent = launched.unread || launched.channel.consumerLeftEarly;
    const answer = unsent ? [] : heldAnswer;
    if (unsent && heldAnswer.length > 0) outcome = cancelledUnread(outcome, heldAnswer);
    const ending = await endRunWithAnswer(store, owner, run, lease, answer, outcome, now() - launched.startedAt, { rethrow: false });
    outcome = ending.result;
    if (ending.answerStored && tail.held) await launched.channel.push(tail.held.entry);
    else if (answer.length > 0) cursor = tail.held?.cursorBefore ?? cursor;
    await launched.channel.push({ id: `${cursor}.${tail.index}`, event: { type: 'run_end', index: tail.index, messageId: tail.messageId, result: outcome } });
    return { result: outcome, session: ending.session };
  }

  /**
   * The stream of a launched run under a lease held (or, for an early start,
   * about to be): it ends the run's record and releases the lease in one step
   * when the run ends. A set-up that fails ends the stream with its error.
   */
  function openStream(owner: SessionOwner, session: TranscriptSession, setUp: Promise<RunSetUp>, launched: Launched): SessionStream {
    let current = session;
    const finished = setUp.then(
      (ready) => {
        current = ready.session;
        const { lease } = ready.held;
        if (lease.signal.aborted) launched.stop();
        else lease.signal.addEventListener('abort', () => launched.stop(), { once: true });
        return launched.ended.then(
          (tail) => endRun(owner, ready.run, launched, ready.held, tail),
          async (error: unknown) => {
            await giveBack(owner, ready.held);
            throw error;
          },
        );
      },
      (error: unknown) => {
        // Nothing was stored and no tool ran (a tool runs only after its call is stored).
        launched.stop();
        throw error;
      },
    );
    finished.then(
      () => launched.channel.close(),
      (error: unknown) => launched.channel.close({ error }),
    );
    // Made when first asked for, and the session read for it only then (and only when the last
    // write did not return it): a caller that never asks (a consumer that only iterates) pays no
    // round trip after the run, and the consumer's loop never waits for it.
    let result: Promise<SessionRunResult> | undefined;
    const resultOf = (): Promise<SessionRunResult> => {
      result ??= finished.then(async (ended) => ({
        session: ended.session ?? (await storeCall(() => currentSession(store, owner, session.id))),
        result: ended.result,
        runId: (await setUp).run.id,
      }));
      // Nobody has to wait for the result; a failure also reaches the consumer's loop.
      result.catch(() => undefined);
      return result;
    };
    let state: 'ready' | 'running' | 'done' = 'ready';

    async function* events(): AsyncGenerator<SessionStreamEvent, void> {
      if (state !== 'ready') throw new AgentsApiError('transcript.invalid_request', 'A session stream can be iterated once.');
      state = 'running';
      launched.read();
      try {
        yield* launched.channel.values();
      } finally {
        // A stream read to its end has nothing to stop: an abort would only make an AbortError.
        if (launched.channel.consumerLeftEarly) launched.stop();
        state = 'done';
        // The lock is free and the transcript final before the consumer's loop goes on.
        await finished.catch(() => undefined);
      }
    }

    return {
      get session() {
        return current;
      },
      get result() {
        return resultOf();
      },
      [Symbol.asyncIterator]: () => events(),
      async cancel() {
        if (state !== 'ready') return;
        state = 'done';
        launched.abandon();
        await finished.catch(() => undefined);
      },
    };
  }

  return {
    async start(request, runOptions = {}) {
      const { owner, session: newSession, input: _input, idempotencyKey: _key, ...fields } = request;
      checkOwner(owner, fields.principal);
      const input = parseInput(request.input);
      const idempotencyKey = parseKey(request.idempotencyKey);
      checkAgent({ id: newSession.id ?? '(new)', agentSlug: newSession.agentSlug }, fields.principal.agentSlug);
      if (idempotencyKey === undefined) return startEarly(owner, newSession, input, fields, runOptions);
      // A keyed start may be the retry of one whose run has ended: nothing runs before that is known.
      const retriedId = keyedSessionId(newSession);
      await storeCall(() => store.createSession(owner, newSession, { messages: input })).catch((error: unknown) => {
        if (AgentsApiError.isInstance(error) && error.code === 'transcript.session_exists') return undefined;
        throw error;
      });
      return attemptStream(owner, retriedId, { fields, input, idempotencyKey, seqAtStart: 0, inputStored: true }, runOptions);
    },

    async resume(request, runOptions = {}) {
      const { owner, sessionId, approvals, input: _input, idempotencyKey: _key, ...fields } = request;
      if (!store.durable) {
        throw new AgentsApiError('transcript.not_durable', `This transcript store keeps nothing across restarts, so session "${sessionId}" cannot be resumed.`, {
          details: { sessionId },
        });
      }
      checkOwner(owner, fields.principal);
      const input = parseInput(request.input ?? []);
      const idempotencyKey = parseKey(request.idempotencyKey);
      return attemptStream(owner, sessionId, { fields, input, idempotencyKey, approvals, inputStored: false }, runOptions);
    },

    replay: (owner, sessionId, lastEventId) => replayAfter(store, owner, sessionId, lastEventId, openingSessions.get(sessionId)),
  };
}

/**
 * How many events a run may make before its consumer begins to read: the run
 * starts before `start` resolves (its first model call beside the set-up), so
 * it must get past `turn_start` to its model call, and the deltas that come
 * before the consumer's loop begins wait here. Past this, or once the consumer
 * reads, the run is paced by the consumer.
 */
const eventsBeforeConsumer = 256;

/**
 * Sends an early start's open one turn of the event loop later, once the
 * run's first model request is on the wire: everything from the run's start
 * to the request's socket write is promise work, done before the turn ends.
 * Sent first, the open's statement (its checks and building, its socket
 * write, the database process that write wakes) came before the model
 * request's bytes, on the time to the first delta. Only unkeyed starts
 * without a session id, whose `start` does not wait for the open, do this.
 * See docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 22".
 */
function afterModelRequest<T>(send: () => Promise<T>): Promise<T> {
  return new Promise<void>((resolve) => setImmediate(resolve)).then(send);
}

/** A run started by {@link createSessionStreams}: its events, its own ending, and how to stop it. */
interface Launched {
  readonly channel: EventChannel<SessionStreamEvent>;
  /** How the run's loop ended (before its end is recorded or sent). */
  readonly ended: Promise<RunTail>;
  /** The run's answer held back for its last write. */
  readonly lastWrite: LastWrite;
  readonly startedAt: number;
  /** Resolves once a consumer reads the stream or it is abandoned: the run's writes wait for it. */
  readonly arrived: Promise<void>;
  /** Whether no consumer has begun to read. */
  readonly unread: boolean;
  /** A consumer begins to read. */
  read(): void;
  /** Aborts the run; it ends `cancelled` within one step. */
  stop(): void;
  /** Aborts the run for a consumer that will never come: its events are dropped. */
  abandon(): void;
}

/** What a stream's run holds once the store has set it up: the session as stored, the run's record and the lease. */
interface RunSetUp {
  readonly session: TranscriptSession;
  readonly run: RunRecord;
  readonly held: HeldLease;
}

/**
 * The session an early start asked for, as the stream shows it until the
 * store's open answers (then the stored one): the times are the runner's clock.
 */
function plannedSession(owner: SessionOwner, session: NewSession, lastSeq: number, at: number): TranscriptSession {
  const time = new Date(at);
  return {
    id: session.id ?? '',
    agentSlug: session.agentSlug,
    userId: owner.userId,
    tenantId: owner.tenantId,
    title: session.title ?? null,
    metadata: session.metadata ?? {},
    lastSeq,
    createdAt: time,
    updatedAt: time,
  };
}

/** A stream's run as its last write left it: its result and, when that write stored an answer, the session it returned. */
interface EndedRun {
  readonly result: ConversationResult;
  readonly session: TranscriptSession | undefined;
}

/** How a launched run's loop ended: its `run_end` (not yet sent) and the answer event it holds back, if any. */
interface RunTail {
  readonly result: ConversationResult;
  readonly index: number;
  readonly messageId: string | null;
  /** The cursor after every event the loop made, the held answer's included. */
  readonly cursor: string;
  readonly held: { readonly entry: SessionStreamEvent; readonly cursorBefore: string } | undefined;
}

/** A run cancelled before anyone read it: `cancelled`, without the answer it held back. */
function cancelledUnread(result: ConversationResult, answer: readonly AgentMessage[]): ConversationResult {
  const unstored = new Set(answer.map((entry) => entry.id));
  return {
    status: 'cancelled',
    messages: result.messages.filter((entry) => !unstored.has(entry.id)),
    toolExecutions: result.toolExecutions,
    usage: result.usage,
    turns: result.turns,
    finalContent: result.finalContent,
  };
}

/** A runner whose run ends at once with `result` (a budget its earlier attempts spent): no model call. */
function resultOnly(result: ConversationResult): ConversationRunner {
  return {
    run: async () => result,
    async *stream() {
      yield { type: 'run_end', index: 0, messageId: null, result };
    },
  };
}

/**
 * The stream of a keyed run that had already ended: its messages and its
 * `run_end` again, from the stored result; no model call, nothing written.
 */
function endedStream(store: TranscriptStore, owner: SessionOwner, outcome: SessionRunResult): SessionStream {
  const { session, result } = outcome;
  async function* events(): AsyncGenerator<SessionStreamEvent, void> {
    const before = await storeCall(() => store.loadMessages(owner, session.id, { last: result.messages.length + 1 }));
    let cursor = result.messages.length < before.length ? (before[0]?.message.id ?? '') : '';
    let index = 0;
    for (const message of result.messages) {
      cursor = message.id;
      yield { id: `${cursor}.${index}`, event: { type: 'message', index, messageId: message.id, message } };
      index += 1;
    }
    yield { id: `${cursor}.${index}`, event: { type: 'run_end', index, messageId: null, result } };
  }
  return { session, result: Promise.resolve(outcome), [Symbol.asyncIterator]: () => events(), cancel: async () => undefined };
}

async function* replayAfter(
  store: TranscriptStore,
  owner: SessionOwner,
  sessionId: string,
  lastEventId: string,
  stillOpening: Promise<void> | undefined,
): AsyncGenerator<SessionStreamEvent, void> {
  const { cursor, index } = parseEventId(lastEventId);
  // An early start of this runner whose open is not yet stored: its session is read once it is.
  if (stillOpening !== undefined) await stillOpening;
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
