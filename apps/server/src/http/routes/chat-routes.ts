import type { SessionStreamEvent } from '@data-machine/agents-api';
import { createMessage } from '@data-machine/agents-api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { deleteChatSession, getChatSession, listChatSessions, renameChatSession, type ChatSession, type ChatSessionStore, type DataMachineContext, type PendingAction } from 'data-machine';
import { z } from 'zod';
import type { ChatService, ChatTurn } from '../../chat/chat-service';
import { openEventStream, watchDisconnect, type EventStreamWriter } from '../../chat/server-sent-events';
import { requestAgent, requestScope } from '../authentication';
import { toErrorResponse } from '../error-response';
import { agentParams } from './agent-routes';
import { bearer, bodyErrors, instant, instantSchema, pathReferenceSchema, scopedErrors } from './schemas';

/** What the chat routes run on. */
export interface ChatRouteDependencies {
  readonly service: ChatService;
  readonly store: ChatSessionStore;
}

const chatSessionSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  agentId: z.string(),
  agentSlug: z.string(),
  userId: z.string().nullable(),
  title: z.string().nullable(),
  lastSeq: z.number().int(),
  createdAt: instantSchema,
  updatedAt: instantSchema,
});
const storedMessageSchema = z.object({ seq: z.number().int(), message: z.record(z.string(), z.unknown()) });

/**
 * One chat turn: a message in a new session or in `sessionId`, or (no
 * message) a continuation of `sessionId` that applies the decisions taken on
 * its held calls (the pending actions its last turn stored, decided through
 * `POST /approvals/{id}/accept|reject`, or `approvals` for calls no action holds).
 */
export const chatTurnBodySchema = z
  .strictObject({
    message: z.string().min(1).max(100_000).optional(),
    sessionId: z.string().min(1).max(200).optional(),
    /** The new session's title. */
    title: z.string().trim().max(500).optional(),
    /** Decisions on the calls the session's last run held for approval that no pending action holds. */
    approvals: z.array(z.strictObject({ toolCallId: z.string().min(1).max(200), approved: z.boolean(), reason: z.string().max(2000).optional() })).max(100).optional(),
    /** `false`: answer with the run's result as JSON instead of streaming. */
    stream: z.boolean().optional(),
  })
  .refine((body) => body.message !== undefined || body.sessionId !== undefined, {
    message: 'Send a message, or continue a session',
    path: ['message'],
  });

const turnResultSchema = z.object({
  sessionId: z.string(),
  runId: z.string(),
  status: z.string(),
  finalContent: z.string().nullable(),
  result: z.record(z.string(), z.unknown()),
});

const sessionParams = agentParams.extend({ session: pathReferenceSchema });

function sessionBody(session: ChatSession): z.output<typeof chatSessionSchema> {
  return { ...session, createdAt: instant(session.createdAt), updatedAt: instant(session.updatedAt) };
}

/**
 * Chat with an agent over HTTP: a turn streamed as server-sent events (or
 * answered as JSON), the missed events of a dropped stream, and the caller's
 * chat sessions (list, read, rename, delete). Every rule is the product's:
 * `chat` on the agent, sessions owned by their user.
 */
export function registerChatRoutes(app: FastifyInstance, context: DataMachineContext, { service, store }: ChatRouteDependencies): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['chat'];

  routes.post(
    '/agents/:agent/chat',
    {
      // Authorized with the request's authentication, in its one transaction. A turn writes its session, never access.
      config: { agentAccess: { param: 'agent', action: 'chat' }, accessUnchanged: true },
      schema: {
        tags,
        security: bearer,
        summary: 'Run one chat turn; streams server-sent events unless `stream: false` or `Accept: application/json`',
        params: agentParams,
        body: chatTurnBodySchema,
        response: { 200: turnResultSchema, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const authorized = await requestAgent(context, request);
      const scope = authorized?.scope ?? (await requestScope(context, request));
      const { body } = request;
      const signal = watchDisconnect(reply);
      const turn = await service.openTurn(scope, authorized ? { authorized: authorized.agent } : request.params.agent, {
        sessionId: body.sessionId,
        title: body.title,
        input: body.message === undefined ? [] : [createMessage({ type: 'text', role: 'user', content: body.message, payload: {} })],
        approvals: body.approvals,
        signal,
      });
      if (!wantsStream(request, body.stream)) {
        await drain(turn);
        const { result, runId, session } = await turn.settled;
        return { sessionId: session.id, runId, status: result.status, finalContent: result.finalContent, result: { ...result } };
      }
      // The model request first, then the headers with the `session` event in one write.
      await turn.launched;
      const events = openEventStream(reply, { 'x-session-id': turn.stream.session.id }, { event: 'session', data: { sessionId: turn.stream.session.id, agent: turn.agent.slug } });
      await streamTurn(turn, events, signal);
      return reply;
    },
  );

  routes.get(
    '/agents/:agent/chat/sessions/:session/events',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'What a dropped chat stream missed: the stored messages after `Last-Event-ID` (header, or `lastEventId` in the query), as server-sent events',
        params: sessionParams,
        querystring: z.strictObject({ lastEventId: z.string().min(1).max(500).optional() }),
        response: scopedErrors,
      },
    },
    async (request, reply) => {
      const header = request.headers['last-event-id'];
      const lastEventId = (typeof header === 'string' && header !== '' ? header : undefined) ?? request.query.lastEventId ?? '.0';
      const replayed = await service.replay(await requestScope(context, request), request.params.agent, request.params.session, lastEventId);
      const events = openEventStream(reply, { 'x-session-id': request.params.session });
      for (const entry of replayed) {
        const event = toServerSentEvent(entry);
        if (event !== undefined) events.send(event);
      }
      events.end();
      return reply;
    },
  );

  routes.get(
    '/agents/:agent/chat/sessions',
    {
      schema: {
        tags,
        security: bearer,
        summary: "Your chat sessions with the agent, newest first (`everyUser`: every user's, for the agent's admins)",
        params: agentParams,
        querystring: z.strictObject({
          everyUser: z.enum(['true', 'false']).optional(),
          limit: z.coerce.number().int().min(1).max(200).optional(),
          cursor: z.string().min(1).max(1000).optional(),
        }),
        response: { 200: z.object({ sessions: z.array(chatSessionSchema), nextCursor: z.string().nullable() }), ...scopedErrors },
      },
    },
    async (request) => {
      const { everyUser, limit, cursor } = request.query;
      const page = await listChatSessions(context, await requestScope(context, request), store, request.params.agent, {
        everyUser: everyUser === 'true',
        ...(limit === undefined ? {} : { limit }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { sessions: page.sessions.map(sessionBody), nextCursor: page.nextCursor };
    },
  );

  routes.get(
    '/agents/:agent/chat/sessions/:session',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'A chat session and its messages (`userId`: another user\'s, for the agent\'s admins; `afterSeq`: only later messages)',
        params: sessionParams,
        querystring: z.strictObject({ userId: z.string().min(1).max(200).optional(), afterSeq: z.coerce.number().int().min(0).max(2_147_483_647).optional() }),
        response: { 200: z.object({ session: chatSessionSchema, messages: z.array(storedMessageSchema) }), ...scopedErrors },
      },
    },
    async (request) => {
      const { userId, afterSeq } = request.query;
      const transcript = await getChatSession(context, await requestScope(context, request), store, request.params.agent, request.params.session, {
        ...(userId === undefined ? {} : { userId }),
        ...(afterSeq === undefined ? {} : { afterSeq }),
      });
      return {
        session: sessionBody(transcript.session),
        messages: transcript.messages.map((stored) => ({ seq: stored.seq, message: { ...stored.message } })),
      };
    },
  );

  routes.patch(
    '/agents/:agent/chat/sessions/:session',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Rename one of your chat sessions',
        params: sessionParams,
        body: z.strictObject({ title: z.string().trim().max(500).nullable() }),
        response: { 200: chatSessionSchema, ...bodyErrors },
      },
    },
    async (request) =>
      sessionBody(await renameChatSession(context, await requestScope(context, request), store, request.params.agent, request.params.session, request.body.title)),
  );

  routes.delete(
    '/agents/:agent/chat/sessions/:session',
    { schema: { tags, security: bearer, summary: 'Delete one of your chat sessions and its messages', params: sessionParams, response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      await deleteChatSession(context, await requestScope(context, request), store, request.params.agent, request.params.session);
      return reply.code(204).send(null);
    },
  );
}

/** Streams unless the body says `stream: false` or the client accepts JSON and not an event stream. */
export function wantsStream(request: FastifyRequest, stream: boolean | undefined): boolean {
  if (stream !== undefined) return stream;
  const accept = request.headers.accept ?? '';
  return !(accept.includes('application/json') && !accept.includes('text/event-stream'));
}

/** Reads a turn's stream to its end without sending it (a stream must be read for its run to go on). */
export async function drain(turn: ChatTurn): Promise<void> {
  for await (const _event of turn.stream) {
    // Only the result is wanted.
  }
}

/**
 * Sends a turn's events as they happen, each with its durable SSE id. The
 * client going away leaves the loop, which cancels the run: what it completed
 * stays stored, the turn in progress stores nothing. A failure after the
 * stream began is an `error` event in the one error shape.
 */
async function streamTurn(turn: ChatTurn, events: EventStreamWriter, signal: AbortSignal): Promise<void> {
  try {
    for await (const entry of turn.stream) {
      if (signal.aborted) break;
      const event = toServerSentEvent(entry, turn.held);
      if (event === undefined) continue;
      events.send(event);
      // The first delta leaves before the rest of the answer is consumed (the run waits for this loop).
      if (event.event === 'text_delta') await events.flushOnce();
    }
  } catch (error) {
    events.send({ event: 'error', data: toErrorResponse(error).body });
  }
  events.end();
}

/**
 * The events a chat client is sent; a turn's start and a tool call's argument
 * pieces are not. An approval request carries the pending action the turn
 * stored for the call (`action`: its id, summary and exact preview), which
 * `POST /approvals/{id}/accept|reject` decides.
 */
function toServerSentEvent({ id, event }: SessionStreamEvent, held: ReadonlyMap<string, PendingAction> = new Map()): { id: string; event: string; data: unknown } | undefined {
  switch (event.type) {
    case 'turn_start':
    case 'tool_call_delta':
      return undefined;
    case 'text_delta':
      return { id, event: 'text_delta', data: { text: event.text, messageId: event.messageId } };
    case 'approval_required': {
      const action = held.get(event.pending.toolCall.id);
      const summary = action === undefined ? null : { id: action.id, kind: action.kind, summary: action.summary, preview: action.preview, toolName: action.toolName, input: action.input, expiresAt: action.expiresAt.toISOString() };
      return { id, event: 'approval_required', data: { ...event, action: summary } };
    }
    default:
      return { id, event: event.type, data: event };
  }
}
