import { randomUUID } from 'node:crypto';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { AgentsApiError } from '../errors';
import { createMessage, type AgentMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { createToolLoopRunner } from '../runner/tool-loop-runner';
import { defineTool } from '../tools/define-tool';
import { createTestClock } from '../testing/contract-support';
import { createInMemoryTranscriptStore } from '../transcripts/in-memory-transcript-store';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import type { SessionOwner, TranscriptStore } from '../transcripts/transcript-store';
import { createSessionRunner, type SessionRunner } from './session-runner';

const instructions = 'You are the billing agent. SECRET-SYSTEM-PROMPT';
const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });

/**
 * A store whose `failOn`-th append (counting from 1) throws, as a crash
 * between two writes would. `start` stores its input with the session, not by an append.
 */
function crashingOnAppend(store: TranscriptStore, failOn: number): TranscriptStore & { readonly batches: AgentMessage['type'][][] } {
  let appends = 0;
  const batches: AgentMessage['type'][][] = [];
  return {
    ...store,
    durable: store.durable,
    batches,
    append: async (owner, sessionId, messages, update, options) => {
      appends += 1;
      if (appends === failOn) throw new Error('the database went away');
      batches.push(messages.map((message) => message.type));
      return store.append(owner, sessionId, messages, update, options);
    },
  } as TranscriptStore & { readonly batches: AgentMessage['type'][][] };
}

let server: ModelServer;
let sessionsOn: (store: TranscriptStore) => SessionRunner;
let charges = 0;
let lookups = 0;
const charge = defineTool({
  name: 'charge',
  description: 'Charges the card once; never safe to repeat',
  input: z.object({ cents: z.number().int() }),
  writes: true,
  execute: ({ cents }) => {
    charges += 1;
    return `charged ${cents}`;
  },
});
const lookup = defineTool({
  name: 'lookup',
  description: 'Reads the balance',
  input: z.object({}),
  retrySafe: true,
  execute: () => {
    lookups += 1;
    return 'balance 100';
  },
});
const tools = [charge, lookup];
const principal = testPrincipal({ agentSlug: 'billing', tenantId: `tenant-${randomUUID()}` });
const owner = (): SessionOwner => ({ userId: principal.userId, tenantId: principal.tenantId });

const providerFor = (model: ModelServer) => createOpenAIProvider({ apiKey: 'test-key', baseURL: model.baseURL, model: 'test-model', maxRetries: 0 });

beforeAll(async () => {
  server = await startModelServer();
  const provider = providerFor(server);
  sessionsOn = (store) => createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider, persister }) });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
  charges = 0;
  lookups = 0;
});

describe('session runner on a store that is not durable', () => {
  it('runs a new session and keeps its transcript', async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const { session, result } = await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal, instructions });
    expect(result.status).toBe('completed');
    expect((await store.loadMessages(who, session.id)).map((stored) => stored.message.type)).toEqual(['text', 'text']);
  });

  it('refuses to resume a session by id, before any model call', async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    const session = await store.createSession(who, { agentSlug: 'billing' });
    const resuming = sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('again')], principal, instructions });
    await expect(resuming).rejects.toMatchObject({ code: 'transcript.not_durable' });
    expect(server.completionRequests()).toHaveLength(0);
  });
});

describe('session runner refusals', () => {
  it("refuses a session owner other than the principal's user: context wins over input", async () => {
    const store = createInMemoryTranscriptStore();
    const someoneElse = { userId: 'someone-else', tenantId: principal.tenantId };
    const starting = sessionsOn(store).start({
      owner: someoneElse,
      session: { agentSlug: 'billing' },
      input: [userSays('Hi')],
      principal,
      instructions,
    });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.invalid_request', details: { mismatched: ['userId'] } });
    expect((await store.listSessions(someoneElse)).sessions).toEqual([]);
  });

  it("refuses a session owner in another tenant than the principal's, creating nothing", async () => {
    const store = createInMemoryTranscriptStore();
    const elsewhere = { ...owner(), tenantId: 'another-tenant' };
    const starting = sessionsOn(store).start({ owner: elsewhere, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal });
    await expect(starting).rejects.toMatchObject({
      code: 'transcript.invalid_request',
      details: { mismatched: ['tenantId'], ownerTenantId: 'another-tenant', principalTenantId: principal.tenantId },
    });
    expect((await store.listSessions(elsewhere)).sessions).toEqual([]);
  });

  it('refuses invalid input without leaving an empty session behind', async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    const starting = sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [{ type: 'text' } as unknown as AgentMessage], principal });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.invalid_request' });
    expect((await store.listSessions(who)).sessions).toEqual([]);
  });

  it('leaves no empty session behind when the store refuses the input', async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    const twice = userSays('Hi');
    const starting = sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [twice, twice], principal });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.duplicate_message' });
    expect((await store.listSessions(who)).sessions).toEqual([]);
    expect(server.completionRequests()).toHaveLength(0);
  });

  it("refuses a session of another agent than the principal's, creating nothing", async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    const starting = sessionsOn(store).start({ owner: who, session: { agentSlug: 'writer' }, input: [userSays('Hi')], principal });
    await expect(starting).rejects.toMatchObject({ code: 'transcript.invalid_request' });
    expect((await store.listSessions(who)).sessions).toEqual([]);
  });

  it('reports a store that fails with an error of its own as transcript.store_failed', async () => {
    const store = createInMemoryTranscriptStore();
    const who = owner();
    const session = await store.createSession(who, { agentSlug: 'billing' });
    const broken: TranscriptStore = {
      ...store,
      durable: true,
      loadMessages: async () => {
        throw new Error('connection reset');
      },
    };
    const resuming = sessionsOn(broken).resume({ owner: who, sessionId: session.id, input: [userSays('x')], principal });
    await expect(resuming).rejects.toMatchObject({ code: 'transcript.store_failed', message: expect.stringContaining('connection reset') });
    expect(server.completionRequests()).toHaveLength(0);
  });

  it('refuses a bad lock time to live', () => {
    const store = createInMemoryTranscriptStore();
    expect(() => createSessionRunner({ store, createRunner: () => createToolLoopRunner({ provider: { name: 'x' } as never }), lockTtlMs: 0 })).toThrow(AgentsApiError);
  });
});

/** Waits until `condition` holds, or fails after `deadlineMs`; no fixed sleeps. */
async function waitFor(condition: () => boolean | Promise<boolean>, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('session runner leases', () => {
  const ttl = 300;
  const clocked = () => {
    const clock = createTestClock();
    const store = createInMemoryTranscriptStore({ now: clock.now });
    let renewals = 0;
    const counting: TranscriptStore = {
      ...store,
      renewLock: async (...args) => {
        const renewal = await store.renewLock(...args);
        renewals += 1;
        return renewal;
      },
    };
    return { clock, store: counting, renewals: () => renewals };
  };
  const runnerOn = (store: TranscriptStore) =>
    createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }), lockTtlMs: ttl });

  it('leases the session for seconds by default, not minutes', async () => {
    const clock = createTestClock();
    const store = createInMemoryTranscriptStore({ now: clock.now });
    const who = owner();
    const sessionId = `ses-${randomUUID()}`;
    let heldUntil: Date | undefined;
    const peek = defineTool({
      name: 'peek',
      description: 'Reads the lease of its own run',
      input: z.object({}),
      execute: async () => {
        const lock = await store.acquireLock(who, sessionId, 1);
        heldUntil = lock.acquired ? undefined : lock.expiresAt;
        return 'ok';
      },
    });
    server.enqueue(toolCallReply({ name: 'peek', arguments: {} }), textReply('Done.'));
    const runner = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }) });
    await runner.start({ owner: who, session: { id: sessionId, agentSlug: 'billing' }, input: [userSays('Go')], principal, tools: [peek] });
    expect(heldUntil && heldUntil.getTime() - clock.now().getTime()).toBe(15_000);
  });

  it('renews the lease while the run lives, so a run longer than one lease keeps its session', async () => {
    const { clock, store, renewals } = clocked();
    const slow = defineTool({
      name: 'slow',
      description: 'Outlives several leases',
      input: z.object({}),
      execute: async () => {
        for (let lease = 0; lease < 3; lease += 1) {
          const seen = renewals();
          await waitFor(() => renewals() > seen);
          clock.advance(ttl - 1);
        }
        return 'done';
      },
    });
    server.enqueue(toolCallReply({ name: 'slow', arguments: {} }), textReply('Finished.'));
    const who = owner();
    const { result, session } = await runnerOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Go')], principal, tools: [slow] });
    expect(result).toMatchObject({ status: 'completed', finalContent: 'Finished.' });
    expect((await store.loadMessages(who, session.id)).map((entry) => entry.message.type)).toEqual(['text', 'tool_call', 'tool_result', 'text']);
  });

  it('stops a run whose lease was taken, ends it failed with transcript.lease_lost, and writes nothing more', async () => {
    const { clock, store } = clocked();
    const who = owner();
    const sessionId = `ses-${randomUUID()}`;
    let taken = false;
    const stalled = defineTool({
      name: 'stalled',
      description: 'Hangs past its lease until the run is aborted',
      input: z.object({}),
      execute: async (_, context) => {
        // The run stalls past its lease and another run takes the session.
        clock.advance(ttl);
        taken = (await store.acquireLock(who, sessionId, 60_000)).acquired;
        await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
        return 'too late';
      },
    });
    server.enqueue(toolCallReply({ name: 'stalled', arguments: {} }), textReply('Never asked.'));
    const { result } = await runnerOn(store).start({ owner: who, session: { id: sessionId, agentSlug: 'billing' }, input: [userSays('Go')], principal, tools: [stalled] });
    expect(taken).toBe(true);
    expect(result).toMatchObject({ status: 'failed', failure: { code: 'transcript.lease_lost' } });
    expect((await store.loadMessages(who, sessionId)).map((entry) => entry.message.type)).toEqual(['text', 'tool_call']);
    expect(server.completionRequests()).toHaveLength(1);
  });

  it('ends failed with transcript.lease_lost when a write finds the lease gone before any renewal', async () => {
    const clock = createTestClock();
    const store = createInMemoryTranscriptStore({ now: clock.now });
    const who = owner();
    const sessionId = `ses-${randomUUID()}`;
    const stalled = defineTool({
      name: 'stalled',
      description: 'Outlives its lease between two renewals',
      input: z.object({}),
      execute: async () => {
        clock.advance(60_000);
        await store.acquireLock(who, sessionId, 60_000);
        return 'too late';
      },
    });
    server.enqueue(toolCallReply({ name: 'stalled', arguments: {} }), textReply('Never asked.'));
    const runner = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }), lockTtlMs: 60_000 });
    const { result } = await runner.start({ owner: who, session: { id: sessionId, agentSlug: 'billing' }, input: [userSays('Go')], principal, tools: [stalled] });
    expect(result).toMatchObject({ status: 'failed', failure: { code: 'transcript.lease_lost' } });
    expect((await store.loadMessages(who, sessionId)).map((entry) => entry.message.type)).toEqual(['text', 'tool_call']);
  });
});

await describeEachDatabase<AgentsApiDatabase>('session runner on the Postgres store', (context) => {
  let store: TranscriptStore;
  beforeAll(async () => {
    await migrateAgentsApi(context.db);
    store = createPostgresTranscriptStore({ db: context.db });
  });

  it('writes each tool step twice: the calls, then their results', async () => {
    const recording = crashingOnAppend(store, Number.POSITIVE_INFINITY);
    server.enqueue(toolCallReply({ name: 'lookup', arguments: {} }, { name: 'charge', arguments: { cents: 5 } }), textReply('Done.'));
    const { result } = await sessionsOn(recording).start({ owner: owner(), session: { agentSlug: 'billing' }, input: [userSays('Pay')], principal, tools, instructions });
    expect(result.status).toBe('completed');
    expect(recording.batches).toEqual([['tool_call'], ['tool_result', 'tool_result'], ['text']]);
  });

  it("sets a new session up in one write and ends it in one: the answer with the run's ending and the lease's release", async () => {
    const who = owner();
    const calls: { readonly name: string; readonly endsRun: boolean }[] = [];
    const recording = new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const appendOptions = property === 'append' ? (args[4] as { endRun?: unknown } | undefined) : undefined;
          calls.push({ name: String(property), endsRun: appendOptions?.endRun !== undefined });
          return (value as (...callArgs: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    server.enqueue(textReply('Hello.'));
    const { session, result, runId } = await sessionsOn(recording).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal, instructions });
    expect(result.status).toBe('completed');
    const reads = new Set(['getSession', 'loadMessages', 'getRun']);
    expect(calls.filter((call) => !reads.has(call.name))).toEqual([
      { name: 'openSession', endsRun: false },
      { name: 'append', endsRun: true },
    ]);
    expect((await store.loadMessages(who, session.id)).map((stored) => stored.message.content)).toEqual(['Hi', 'Hello.']);
    expect(await store.getRun(who, session.id, runId)).toMatchObject({ status: 'completed', endedAt: expect.any(Date), used: { turns: 1 } });
    expect(await store.acquireLock(who, session.id, 1000)).toMatchObject({ acquired: true });
  });

  it('never stores the system prompt', async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const { session } = await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal, instructions });
    const stored = await store.loadMessages(who, session.id);
    expect(JSON.stringify(stored)).not.toContain('SECRET-SYSTEM-PROMPT');
    expect(server.completionRequests()[0]?.messages[0]).toEqual({ role: 'system', content: instructions });
  });

  it('runs a side-effecting tool exactly once across a crash and a resume', async () => {
    const who = owner();
    // Appends: 1 the tool call, 2 the results: the crash comes after the charge ran.
    const crashing = crashingOnAppend(store, 2);
    server.enqueue(toolCallReply({ name: 'charge', arguments: { cents: 500 } }));
    const first = await sessionsOn(crashing).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Charge me $5')], principal, tools, instructions });
    expect(first.result).toMatchObject({ status: 'failed', failure: { code: 'runner.persist_failed' } });
    expect(charges).toBe(1);

    server.enqueue(textReply('The charge may have gone through; please check before retrying.'));
    const resumed = await sessionsOn(store).resume({ owner: who, sessionId: first.session.id, principal, tools, instructions });
    expect(resumed.result.status).toBe('completed');
    expect(charges).toBe(1);
    const stored = (await store.loadMessages(who, first.session.id)).map((entry) => entry.message);
    const answer = stored.find((message) => message.type === 'tool_result');
    expect(answer).toMatchObject({ role: 'tool', payload: { toolName: 'charge', isError: true } });
    expect(answer?.content).toMatch(/^Not run again: this call was interrupted/);
    expect(stored.map((message) => message.type)).toEqual(['text', 'tool_call', 'tool_result', 'text']);
  });

  it('runs a retry-safe tool again after a crash', async () => {
    const who = owner();
    const crashing = crashingOnAppend(store, 2);
    server.enqueue(toolCallReply({ name: 'lookup', arguments: {} }));
    const first = await sessionsOn(crashing).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Balance?')], principal, tools });
    expect(first.result.status).toBe('failed');
    server.enqueue(textReply('Your balance is 100.'));
    const resumed = await sessionsOn(store).resume({ owner: who, sessionId: first.session.id, principal, tools });
    expect(resumed.result).toMatchObject({ status: 'completed', finalContent: 'Your balance is 100.' });
    expect(lookups).toBe(2);
    expect(resumed.result.toolExecutions).toMatchObject([{ toolName: 'lookup', outcome: 'success', content: 'balance 100' }]);
  });

  it('loses nothing when the crash comes before the tool ran', async () => {
    const who = owner();
    const crashing = crashingOnAppend(store, 1);
    server.enqueue(toolCallReply({ name: 'charge', arguments: { cents: 1 } }));
    const first = await sessionsOn(crashing).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Charge 1 cent')], principal, tools });
    expect(first.result.status).toBe('failed');
    expect(charges).toBe(0);
    server.enqueue(toolCallReply({ name: 'charge', arguments: { cents: 1 } }), textReply('Charged.'));
    const resumed = await sessionsOn(store).resume({ owner: who, sessionId: first.session.id, principal, tools });
    expect(resumed.result.status).toBe('completed');
    expect(charges).toBe(1);
  });

  it('continues a conversation with new input and the whole history', async () => {
    const who = owner();
    server.enqueue(textReply('Hi, Ada.'));
    const first = await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('I am Ada')], principal });
    server.enqueue(textReply('You are Ada.'));
    const second = await sessionsOn(store).resume({ owner: who, sessionId: first.session.id, input: [userSays('Who am I?')], principal });
    expect(second.result.finalContent).toBe('You are Ada.');
    expect(server.completionRequests().at(-1)?.messages.map((message) => message.content)).toEqual(['I am Ada', 'Hi, Ada.', 'Who am I?']);
    expect(second.session.lastSeq).toBe(4);
  });

  it('refuses to resume a session that another run holds', async () => {
    const who = owner();
    const session = await store.createSession(who, { agentSlug: 'billing' });
    const lock = await store.acquireLock(who, session.id, 60_000);
    expect(lock.acquired).toBe(true);
    const resuming = sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Hi')], principal });
    await expect(resuming).rejects.toMatchObject({ code: 'transcript.session_locked' });
    expect(server.completionRequests()).toHaveLength(0);
  });

  it('refuses to resume a session as another agent', async () => {
    const who = owner();
    const session = await store.createSession(who, { agentSlug: 'billing' });
    const asWriter = testPrincipal({ agentSlug: 'writer' });
    const resuming = sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('x')], principal: asWriter });
    await expect(resuming).rejects.toMatchObject({ code: 'transcript.invalid_request' });
  });

  it('resumes a session whose last run died holding the lock, once the lease has expired', async () => {
    let now = new Date('2026-11-23T10:00:00Z');
    const clocked = createPostgresTranscriptStore({ db: context.db, now: () => now });
    const who = owner();
    const session = await clocked.createSession(who, { agentSlug: 'billing' });
    // A run that crashed took the lease and never released it.
    expect((await clocked.acquireLock(who, session.id, 60_000)).acquired).toBe(true);
    const runner = createSessionRunner({ store: clocked, createRunner: (persister) => createToolLoopRunner({ provider: providerFor(server), persister }), lockTtlMs: 60_000 });
    await expect(runner.resume({ owner: who, sessionId: session.id, input: [userSays('Hi')], principal })).rejects.toMatchObject({ code: 'transcript.session_locked' });
    now = new Date(now.getTime() + 60_001);
    server.enqueue(textReply('Back.'));
    const resumed = await runner.resume({ owner: who, sessionId: session.id, input: [userSays('Hi')], principal });
    expect(resumed.result.finalContent).toBe('Back.');
  });

  it("does not resume another tenant's session: the principal's tenant must be the owner's", async () => {
    const who = owner();
    server.enqueue(textReply('Hello.'));
    const { session } = await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal });
    const resuming = sessionsOn(store).resume({ owner: { ...who, tenantId: 'another-tenant' }, sessionId: session.id, input: [userSays('x')], principal });
    await expect(resuming).rejects.toMatchObject({ code: 'transcript.invalid_request', details: { mismatched: ['tenantId'] } });
    const asOtherTenant = { ...principal, tenantId: 'another-tenant' };
    const resumingThere = sessionsOn(store).resume({ owner: { ...who, tenantId: 'another-tenant' }, sessionId: session.id, input: [userSays('x')], principal: asOtherTenant });
    await expect(resumingThere).rejects.toMatchObject({ code: 'transcript.session_not_found' });
  });

  describe('idempotency keys', () => {
    const started = async (who: SessionOwner) => {
      server.enqueue(textReply('Hello.'));
      return (await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal })).session;
    };

    it("returns an ended run's result for its key again, without a model call or a second copy of the input", async () => {
      const who = owner();
      const session = await started(who);
      server.enqueue(textReply('Paid.'));
      const first = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Pay')], principal, idempotencyKey: 'job-7' });
      const calls = server.completionRequests().length;
      const again = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Pay')], principal, idempotencyKey: 'job-7' });
      expect(again.result).toEqual(JSON.parse(JSON.stringify(first.result)));
      expect(again.runId).toBe(first.runId);
      expect(server.completionRequests()).toHaveLength(calls);
      expect(again.session.lastSeq).toBe(first.session.lastSeq);
      expect(await store.getRun(who, session.id, first.runId)).toMatchObject({ status: 'completed', idempotencyKey: 'job-7', used: { turns: 1 }, endedAt: expect.any(Date) });
    });

    it("refuses an ended run's stored result that is not a conversation result, rather than trusting it", async () => {
      const who = owner();
      const session = await started(who);
      server.enqueue(textReply('Paid.'));
      const first = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Pay')], principal, idempotencyKey: 'job-8' });
      await store.updateRun(who, session.id, first.runId, { result: { status: 'completed', messages: 'not a list' } });
      const again = sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Pay')], principal, idempotencyKey: 'job-8' });
      await expect(again).rejects.toMatchObject({ code: 'transcript.store_failed', details: { sessionId: session.id, runId: first.runId } });
    });

    it('returns a retried start by its key and session id, creating nothing twice', async () => {
      const who = owner();
      const sessionId = `ses-${randomUUID()}`;
      server.enqueue(textReply('Hello.'));
      const request = { owner: who, session: { id: sessionId, agentSlug: 'billing' }, input: [userSays('Hi')], principal, idempotencyKey: 'job-1' };
      const first = await sessionsOn(store).start(request);
      const again = await sessionsOn(store).start({ ...request, input: [userSays('Hi')] });
      expect(again.result.finalContent).toBe('Hello.');
      expect(again.runId).toBe(first.runId);
      expect(server.completionRequests()).toHaveLength(1);
      expect((await store.loadMessages(who, sessionId)).map((entry) => entry.message.content)).toEqual(['Hi', 'Hello.']);
    });

    it('continues a run its crash interrupted, storing the input once and finishing the interrupted step', async () => {
      const who = owner();
      const session = await started(who);
      // Appends of the resume: 1 the input, 2 the tool call, 3 the results: the crash comes after the lookup ran.
      server.enqueue(toolCallReply({ name: 'lookup', arguments: {} }));
      const first = await sessionsOn(crashingOnAppend(store, 3)).resume({ owner: who, sessionId: session.id, input: [userSays('Balance?')], principal, tools, idempotencyKey: 'job-9' });
      expect(first.result).toMatchObject({ status: 'failed', failure: { code: 'runner.persist_failed' } });
      expect(await store.getRun(who, session.id, first.runId)).toMatchObject({ status: 'running', endedAt: null });

      server.enqueue(textReply('Your balance is 100.'));
      // The job retries with the same key and its input made anew.
      const retried = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Balance?')], principal, tools, idempotencyKey: 'job-9' });
      expect(retried.result).toMatchObject({ status: 'completed', finalContent: 'Your balance is 100.' });
      expect(retried.runId).toBe(first.runId);
      const contents = (await store.loadMessages(who, session.id)).map((entry) => `${entry.message.type}:${entry.message.content}`);
      expect(contents.filter((content) => content === 'text:Balance?')).toHaveLength(1);
      expect(await store.getRun(who, session.id, first.runId)).toMatchObject({ status: 'completed', attempts: 2, used: { turns: 2 } });
    });

    it('counts turns across the attempts of one run, not from zero on each', async () => {
      const who = owner();
      const session = await started(who);
      const limits = { maxTurns: 2 };
      server.enqueue(toolCallReply({ name: 'lookup', arguments: {} }));
      const first = await sessionsOn(crashingOnAppend(store, 3)).resume({ owner: who, sessionId: session.id, input: [userSays('Balance?')], principal, tools, limits, idempotencyKey: 'job-3' });
      expect(first.result.status).toBe('failed');
      server.enqueue(toolCallReply({ name: 'lookup', arguments: {} }), textReply('Never reached.'));
      const retried = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('Balance?')], principal, tools, limits, idempotencyKey: 'job-3' });
      expect(retried.result).toMatchObject({ status: 'budget_exceeded', budget: 'turns', turns: 1 });
      expect(await store.getRun(who, session.id, first.runId)).toMatchObject({ status: 'budget_exceeded', used: { turns: 2 } });
    });

    it('refuses a start with a key but no session id', async () => {
      const starting = sessionsOn(store).start({ owner: owner(), session: { agentSlug: 'billing' }, input: [userSays('Hi')], principal, idempotencyKey: 'job-1' });
      await expect(starting).rejects.toMatchObject({ code: 'transcript.invalid_request' });
      expect(server.completionRequests()).toHaveLength(0);
    });
  });

  it('releases the lock when the run ends, so the next run can start', async () => {
    const who = owner();
    server.enqueue(textReply('One.'), textReply('Two.'));
    const { session } = await sessionsOn(store).start({ owner: who, session: { agentSlug: 'billing' }, input: [userSays('1')], principal });
    const again = await sessionsOn(store).resume({ owner: who, sessionId: session.id, input: [userSays('2')], principal });
    expect(again.result.finalContent).toBe('Two.');
  });
});
