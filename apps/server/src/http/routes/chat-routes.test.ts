import diagnostics from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPostgresMemoryStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, errorReply, textReply, toolCallReply } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { parseEventStream, useChatWorld } from '../../../test/support/chat-world';
import { as, grant, tenantWorld } from '../../../test/support/http-world';
import { recordSocketWrites } from '../../../test/support/socket-writes';

await describeEachDatabase<DataMachineDatabase>('chat routes', (database) => {
  const world = useChatWorld(database);

  /** POSTs a turn and reads the whole event stream. */
  async function turn(agent: string, token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
    const response = await world.app.inject({ method: 'POST', url: `/agents/${agent}/chat`, headers: as(token, headers), payload });
    return { response, events: String(response.headers['content-type']).startsWith('text/event-stream') ? parseEventStream(response.body) : [] };
  }

  describe('a streamed turn', () => {
    it('streams text deltas and the run end as server-sent events, each with an id, in a new session the caller owns', async () => {
      const tenant = await tenantWorld(world.context, 'chat-stream');
      world.model.enqueue(textReply('Hello there, friend.'));
      const { response, events } = await turn('default', tenant.owner.token, { message: 'Hi!' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
      const sessionId = response.headers['x-session-id'] as string;
      expect(events[0]).toMatchObject({ event: 'session', data: JSON.stringify({ sessionId, agent: 'default' }) });
      const deltas = events.filter((event) => event.event === 'text_delta');
      expect(deltas.map((event) => (JSON.parse(event.data) as { text: string }).text).join('')).toBe('Hello there, friend.');
      const runEnd = events.at(-1);
      expect(runEnd?.event).toBe('run_end');
      expect(JSON.parse(runEnd?.data ?? '{}')).toMatchObject({ result: { status: 'completed', finalContent: 'Hello there, friend.' } });
      // Every event after the session's has an id of the durable stream, all different.
      const ids = events.slice(1).map((event) => event.id);
      expect(ids.every((id) => typeof id === 'string' && /\.\d+$/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      // The agent's instructions went to the model; the transcript is the caller's.
      const read = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}`, headers: as(tenant.owner.token) });
      expect(read.json()).toMatchObject({ session: { id: sessionId, userId: tenant.owner.id, agentSlug: 'default', lastSeq: 2 } });
      expect(read.json().messages.map((stored: { message: { role: string; content: string } }) => [stored.message.role, stored.message.content])).toEqual([
        ['user', 'Hi!'],
        ['assistant', 'Hello there, friend.'],
      ]);
    });

    it("gives the model the agent's instructions, then its memory files, as the system prompt", async () => {
      const tenant = await tenantWorld(world.context, 'chat-prompt');
      await world.app.inject({ method: 'PATCH', url: '/agents/default', headers: as(tenant.owner.token), payload: { config: { instructions: 'Answer in French.' } } });
      await createPostgresMemoryStore({ db: database.db as unknown as Kysely<AgentsApiDatabase> }).write({ layer: 'agent', tenantId: tenant.tenant.id, agentSlug: 'default', userId: null, path: 'SOUL.md' }, 'You are Marcel.');
      world.model.enqueue(textReply('Bonjour.'));
      await turn('default', tenant.owner.token, { message: 'Hello' });
      const system = world.model.completionRequests()[0]?.messages.find((message) => message.role === 'system')?.content;
      expect(system).toMatch(/^Answer in French\.\n\n[\s\S]*SOUL\.md[\s\S]*You are Marcel\./);
    });

    it('continues a session named in the body: the model gets the stored history', async () => {
      const tenant = await tenantWorld(world.context, 'chat-continue');
      world.model.enqueue(textReply('First answer.'), textReply('Second answer.'));
      const first = await turn('default', tenant.owner.token, { message: 'One?' });
      const sessionId = first.response.headers['x-session-id'] as string;
      const second = await turn('default', tenant.owner.token, { message: 'Two?', sessionId });
      expect(second.response.headers['x-session-id']).toBe(sessionId);
      const sent = world.model.completionRequests()[1]?.messages.map((message) => [message.role, message.content]);
      expect(sent?.filter(([role]) => role !== 'system')).toEqual([
        ['user', 'One?'],
        ['assistant', 'First answer.'],
        ['user', 'Two?'],
      ]);
    });

    it('sends tool calls and approval requests of a run as events too', async () => {
      const tenant = await tenantWorld(world.context, 'chat-tools');
      // The model calls a tool the agent does not have: the call, its error result, then the answer.
      world.model.enqueue(toolCallReply({ id: 'call_a', name: 'lookup', arguments: { q: 'x' } }), textReply('Could not look it up.'));
      const { events } = await turn('default', tenant.owner.token, { message: 'Look it up.' });
      expect(events.map((event) => event.event)).toEqual(expect.arrayContaining(['tool_call', 'tool_result', 'message', 'run_end']));
      const result = JSON.parse(events.find((event) => event.event === 'tool_result')?.data ?? '{}') as { execution: { toolCallId: string; outcome: string } };
      expect(result.execution).toMatchObject({ toolCallId: 'call_a', outcome: 'error' });
    });

    it('answers with JSON when asked by Accept or by `stream: false`', async () => {
      const tenant = await tenantWorld(world.context, 'chat-json');
      world.model.enqueue(textReply('As JSON.'), textReply('Again.'));
      const byAccept = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(tenant.owner.token, { accept: 'application/json' }), payload: { message: 'Hi' } });
      expect(byAccept.statusCode).toBe(200);
      expect(byAccept.json()).toMatchObject({ status: 'completed', finalContent: 'As JSON.', sessionId: expect.any(String), runId: expect.any(String) });
      const byBody = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(tenant.owner.token), payload: { message: 'Hi', stream: false } });
      expect(byBody.json()).toMatchObject({ status: 'completed', finalContent: 'Again.' });
    });

    it('refuses bad input and a session of another user before running anything', async () => {
      const tenant = await tenantWorld(world.context, 'chat-refusals', ['author']);
      const author = tenant.members.author!;
      world.model.enqueue(textReply('Mine.'));
      const own = await turn('default', tenant.owner.token, { message: 'Hi' });
      const sessionId = own.response.headers['x-session-id'] as string;
      await grant(world.context, tenant, 'default', author.id, 'viewer');
      const empty = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(tenant.owner.token), payload: {} });
      expect([empty.statusCode, empty.json().error.code]).toEqual([400, 'input.invalid']);
      const foreign = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(author.token), payload: { message: 'Hi', sessionId } });
      expect([foreign.statusCode, foreign.json().error.code]).toEqual([404, 'session.not_found']);
      const missing = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(tenant.owner.token), payload: { message: 'Hi', sessionId: 'no-such-session' } });
      expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'session.not_found']);
      // Only the owner's first turn reached the model.
      expect(world.model.completionRequests()).toHaveLength(1);
    });

    it('reports a model failure after the stream began as the run end, and keeps the user message', async () => {
      const tenant = await tenantWorld(world.context, 'chat-failure');
      world.model.enqueue(errorReply(400, { message: 'bad request upstream' }));
      const { response, events } = await turn('default', tenant.owner.token, { message: 'Hi' });
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ result: { status: 'failed', failure: { code: 'provider.bad_request' } } });
      const read = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${response.headers['x-session-id'] as string}`, headers: as(tenant.owner.token) });
      expect(read.json().messages.map((stored: { message: { role: string } }) => stored.message.role)).toEqual(['user']);
    });
  });

  describe('reconnecting', () => {
    it('replays what a client missed after Last-Event-ID, from the stored transcript', async () => {
      const tenant = await tenantWorld(world.context, 'chat-replay');
      world.model.enqueue(textReply('Part one.'));
      const { response, events } = await turn('default', tenant.owner.token, { message: 'Tell me.' });
      const sessionId = response.headers['x-session-id'] as string;
      const firstDelta = events.find((event) => event.event === 'text_delta');
      const replay = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}/events`, headers: as(tenant.owner.token, { 'last-event-id': firstDelta?.id ?? '' }) });
      expect(replay.statusCode).toBe(200);
      const missed = parseEventStream(replay.body);
      expect(missed.map((event) => event.event)).toEqual(['message']);
      expect(JSON.parse(missed[0]?.data ?? '{}')).toMatchObject({ message: { role: 'assistant', content: 'Part one.' } });
      // The replayed event's id names the same message as the live stream's did (its index goes on from the one sent).
      const liveId = events.find((event) => event.event === 'message' && event.data.includes('Part one.'))?.id ?? '';
      expect(missed[0]?.id?.split('.')[0]).toBe(liveId.split('.')[0]);
      // Caught up: nothing more.
      const caughtUp = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}/events`, headers: as(tenant.owner.token, { 'last-event-id': missed[0]?.id ?? '' }) });
      expect(parseEventStream(caughtUp.body)).toEqual([]);
      // The id may come in the query (an EventSource cannot set headers on a first request); a stranger's session is missing.
      const byQuery = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}/events?lastEventId=${encodeURIComponent(firstDelta?.id ?? '')}`, headers: as(tenant.owner.token) });
      expect(parseEventStream(byQuery.body).map((event) => event.event)).toEqual(['message']);
      const stranger = await tenantWorld(world.context, 'chat-replay-stranger');
      const foreign = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}/events`, headers: as(stranger.owner.token, { 'last-event-id': firstDelta?.id ?? '' }) });
      expect([foreign.statusCode, foreign.json().error.code]).toEqual([404, 'session.not_found']);
      const bad = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}/events`, headers: as(tenant.owner.token, { 'last-event-id': 'nonsense.3' }) });
      expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'input.invalid']);
    });

    it("sends the model its request before the response's first bytes, which carry the headers and the session event in one write", async () => {
      const tenant = await tenantWorld(world.context, 'chat-first-bytes');
      world.model.enqueue(textReply('Hello.'), textReply('Hello again.'));
      if (!world.app.server.listening) await world.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = world.app.server.address() as AddressInfo;
      const chat = () => fetch(`http://127.0.0.1:${port}/agents/default/chat`, { method: 'POST', headers: { ...as(tenant.owner.token), 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hi!' }) });
      // A first turn opens the connection to the model (a connect is I/O: a request on a new one is sent later); the second reuses it.
      await (await chat()).text();
      const modelOrigin = new URL(world.model.baseURL).origin;
      const order: string[] = [];
      const onBodySent = (message: unknown) => {
        if (String((message as { request: { origin: unknown } }).request.origin) === modelOrigin) order.push('model request sent');
      };
      const stopRecording = recordSocketWrites(world.app.server, order, (bytes) => `sent to the client: ${['HTTP/1.1 200', 'event: session'].filter((part) => bytes.includes(part)).join(' + ')}`);
      diagnostics.subscribe('undici:request:bodySent', onBodySent);
      try {
        const response = await chat();
        expect(parseEventStream(await response.text()).map((event) => event.event)).toContain('text_delta');
      } finally {
        stopRecording();
        diagnostics.unsubscribe('undici:request:bodySent', onBodySent);
      }
      expect(order.slice(0, 2)).toEqual(['model request sent', 'sent to the client: HTTP/1.1 200 + event: session']);
    });

    it('cancels the run when the client disconnects, leaving only complete messages stored', async () => {
      const tenant = await tenantWorld(world.context, 'chat-disconnect');
      // A slow reply: the client leaves after its first piece.
      world.model.enqueue(textReply('one two three four five six seven eight nine ten eleven twelve', { chunkDelayMs: 50 }));
      if (!world.app.server.listening) await world.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = world.app.server.address() as AddressInfo;
      const ended = world.nextTurnEnd();
      const sessionId = await new Promise<string>((resolve, reject) => {
        const outgoing = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: '/agents/default/chat', headers: { ...as(tenant.owner.token), 'content-type': 'application/json' } },
          (incoming) => {
            incoming.on('data', (chunk: Buffer) => {
              if (!chunk.toString().includes('event: text_delta')) return;
              resolve(incoming.headers['x-session-id'] as string);
              outgoing.destroy();
            });
          },
        );
        outgoing.on('error', (error) => (outgoing.destroyed ? undefined : reject(error)));
        outgoing.end(JSON.stringify({ message: 'Count to twelve.' }));
      });
      const outcome = await ended;
      expect(outcome.result.status).toBe('cancelled');
      const read = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}`, headers: as(tenant.owner.token) });
      expect(read.json().messages.map((stored: { message: { role: string } }) => stored.message.role)).toEqual(['user']);
      // The session is free again: the next turn runs.
      world.model.enqueue(textReply('Again.'));
      const next = await turn('default', tenant.owner.token, { message: 'Once more.', sessionId });
      expect(JSON.parse(next.events.at(-1)?.data ?? '{}')).toMatchObject({ result: { status: 'completed' } });
    });
  });

  describe('chat sessions', () => {
    it('lists, reads, renames and deletes the caller\'s sessions; another user\'s read like missing ones', async () => {
      const tenant = await tenantWorld(world.context, 'chat-sessions', ['author']);
      const author = tenant.members.author!;
      await grant(world.context, tenant, 'default', author.id, 'viewer');
      world.model.enqueue(textReply('A.'), textReply('B.'));
      const first = (await turn('default', tenant.owner.token, { message: 'a', title: 'First' })).response.headers['x-session-id'] as string;
      await turn('default', author.token, { message: 'b' });
      const base = '/agents/default/chat/sessions';
      const listed = await world.app.inject({ method: 'GET', url: base, headers: as(tenant.owner.token) });
      expect(listed.json()).toMatchObject({ sessions: [{ id: first, title: 'First' }], nextCursor: null });
      const everyone = await world.app.inject({ method: 'GET', url: `${base}?everyUser=true`, headers: as(tenant.owner.token) });
      expect(everyone.json().sessions).toHaveLength(2);
      // A viewer may not read every user's sessions.
      expect((await world.app.inject({ method: 'GET', url: `${base}?everyUser=true`, headers: as(author.token) })).statusCode).toBe(403);
      expect((await world.app.inject({ method: 'GET', url: `${base}/${first}`, headers: as(author.token) })).json().error.code).toBe('session.not_found');
      const later = await world.app.inject({ method: 'GET', url: `${base}/${first}?afterSeq=1`, headers: as(tenant.owner.token) });
      expect(later.json().messages.map((stored: { seq: number }) => stored.seq)).toEqual([2]);
      const renamed = await world.app.inject({ method: 'PATCH', url: `${base}/${first}`, headers: as(tenant.owner.token), payload: { title: 'Renamed' } });
      expect(renamed.json()).toMatchObject({ id: first, title: 'Renamed' });
      expect((await world.app.inject({ method: 'PATCH', url: `${base}/${first}`, headers: as(author.token), payload: { title: 'Mine' } })).statusCode).toBe(404);
      expect((await world.app.inject({ method: 'PATCH', url: `${base}/${first}`, headers: as(tenant.owner.token), payload: { name: 'x' } })).statusCode).toBe(400);
      expect((await world.app.inject({ method: 'DELETE', url: `${base}/${first}`, headers: as(author.token) })).statusCode).toBe(404);
      expect((await world.app.inject({ method: 'DELETE', url: `${base}/${first}`, headers: as(tenant.owner.token) })).statusCode).toBe(204);
      expect((await world.app.inject({ method: 'GET', url: `${base}/${first}`, headers: as(tenant.owner.token) })).statusCode).toBe(404);
    });
  });

  describe('authorization', () => {
    it('answers an agent the caller cannot see with 404, exactly like a missing one, and runs nothing', async () => {
      const tenant = await tenantWorld(world.context, 'chat-hidden', ['author']);
      const author = tenant.members.author!;
      const hidden = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(author.token), payload: { message: 'Hi' } });
      const missing = await world.app.inject({ method: 'POST', url: '/agents/nowhere/chat', headers: as(author.token), payload: { message: 'Hi' } });
      expect([hidden.statusCode, hidden.json().error.code]).toEqual([404, 'agent.not_found']);
      expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'agent.not_found']);
      expect((await world.app.inject({ method: 'GET', url: '/agents/default/chat/sessions', headers: as(author.token) })).statusCode).toBe(404);
      expect(world.model.completionRequests()).toHaveLength(0);
    });

    it('lets a viewer of the agent chat (the access module allows `chat` from viewer) and refuses a request without a token', async () => {
      const tenant = await tenantWorld(world.context, 'chat-viewer', ['subscriber']);
      const subscriber = tenant.members.subscriber!;
      await grant(world.context, tenant, 'default', subscriber.id, 'viewer');
      world.model.enqueue(textReply('Welcome.'));
      const { events } = await turn('default', subscriber.token, { message: 'Hi' });
      expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ result: { status: 'completed' } });
      const anonymous = await world.app.inject({ method: 'POST', url: '/agents/default/chat', payload: { message: 'Hi' } });
      expect([anonymous.statusCode, anonymous.json().error.code]).toEqual([401, 'auth.required']);
    });
  });
});
