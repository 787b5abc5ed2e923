import {
  AgentsApiError,
  createSessionRunner,
  createToolLoopRunner,
  toolNamePattern,
  type AgentMessage,
  type AnyToolDefinition,
  type ApprovalDecision,
  type MemoryStore,
  type SessionOwner,
  type SessionRunner,
  type SessionRunResult,
  type SessionStream,
  type SessionStreamEvent,
  type TranscriptStore,
} from '@data-machine/agents-api';
import {
  actingUserId,
  composeAgentInstructions,
  DataMachineError,
  getChatSession,
  openChatTools,
  principalFor,
  resolveAgentRun,
  type Agent,
  type ChatTurnTools,
  type DataMachineContext,
  type JobEngine,
  type PendingAction,
  type Scope,
} from 'data-machine';
import { z } from 'zod';
import { HttpError } from '../http/http-error';
import type { ChatModel } from './chat-model-provider';

/** A tool the client runs itself (OpenAI's `tools` of a request): offered to the model, its calls handed back. */
export interface ClientTool {
  readonly name: string;
  readonly description?: string | undefined;
  /** The JSON Schema of its arguments. */
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/** One chat turn to run. */
export interface ChatTurnRequest {
  /** A stored session of the caller's to continue; absent: a new session, owned by the caller. */
  readonly sessionId?: string | undefined;
  /** The new session's title. */
  readonly title?: string | null | undefined;
  /** The turn's input: the user's message, or tool results for calls handed to the client. */
  readonly input: readonly AgentMessage[];
  /**
   * Decisions on calls an earlier turn held for approval, for calls no
   * pending action holds (the product's tools are decided only through their
   * pending actions, which the turn applies itself).
   */
  readonly approvals?: readonly ApprovalDecision[] | undefined;
  readonly clientTools?: readonly ClientTool[] | undefined;
  /** Delete the session once the run ends: a turn that keeps no transcript. */
  readonly stateless?: boolean | undefined;
  /** Aborting cancels the run; what it completed stays stored. */
  readonly signal?: AbortSignal | undefined;
}

/** A turn under way: its durable stream, and its outcome once the run has ended (and, for a stateless turn, its session is gone). */
export interface ChatTurn {
  readonly agent: Agent;
  readonly owner: SessionOwner;
  readonly stream: SessionStream;
  /** Settles when the run has ended; never rejects unhandled. */
  readonly settled: Promise<SessionRunResult>;
  /** The pending actions the turn held, by tool call id: each is stored before its `approval_required` event. */
  readonly held: ReadonlyMap<string, PendingAction>;
  /**
   * Resolves one event-loop turn after the run was started, before the
   * substrate sends a new session's open: a streaming response writes its
   * first bytes after it, so on an open connection to the model they follow
   * the model request instead of going before it (see
   * docs/decisions/2026-12-01-chat-first-byte.md, third pass).
   */
  readonly launched: Promise<void>;
}

/**
 * The agent of a turn: its id or slug, for the service to authorize `chat`
 * on; or the agent the request's own authentication already authorized
 * `chat` on, with the same scope (the chat route's `config.agentAccess`).
 */
export type ChatAgent = string | { readonly authorized: Agent };

/** Chat turns of the product's agents, over the substrate's durable session runner. */
export interface ChatService {
  /**
   * Authorizes `chat` on the agent (an invisible agent is `agent.not_found`,
   * a denied one `access.denied`), then starts or resumes the session as the
   * agent's runtime principal for the caller. Refusals (a bad tool, a session
   * that is not the caller's, a session being run) reject before any event.
   */
  openTurn(scope: Scope, agent: ChatAgent, request: ChatTurnRequest): Promise<ChatTurn>;
  /** The stored messages of the caller's session after `lastEventId` (an SSE id a turn sent). */
  replay(scope: Scope, agentRef: string, sessionId: string, lastEventId: string): Promise<readonly SessionStreamEvent[]>;
}

/** What {@link createChatService} is made of. */
export interface ChatServiceOptions {
  readonly context: DataMachineContext;
  /** A durable transcript store (the Postgres one). */
  readonly store: TranscriptStore;
  /** The model turns run on; without one, a turn is refused with 503 `model.not_configured` (after the caller's `chat` is decided). */
  readonly model: ChatModel | undefined;
  /** The agents' memory files, composed into the system prompt after the agent's instructions (as the ai step does); none without. */
  readonly memory?: MemoryStore | undefined;
  /** The job engine `run_flow` starts runs on; without one the tool is not offered. */
  readonly engine?: JobEngine | undefined;
  /** How long a held call waits for a decision; default one day. */
  readonly approvalTtlMs?: number | undefined;
  /** Told of every turn whose run has ended (cancelled ones included): for metrics, and for tests to wait on. */
  readonly onTurnEnd?: ((turn: { readonly agentSlug: string; readonly outcome: SessionRunResult }) => void) | undefined;
}

/** The `chat` option of `buildApp`: the model, and who is told when a turn ends. */
export interface ChatOptions extends ChatModel {
  /** Told of every turn whose run has ended (cancelled ones included): for metrics, and for tests to wait on. */
  readonly onTurnEnd?: ChatServiceOptions['onTurnEnd'];
}

/**
 * Creates the {@link ChatService}. Each turn offers the model the product's
 * chat tools the caller may use under the agent's tool modes (chat mode), then
 * the client's tools; a `preview` tool's call ends the run `approval_required`
 * with its pending action stored, and the session's next turn applies the
 * decision taken on it.
 */
export function createChatService({ context, store, model, memory, onTurnEnd, engine, approvalTtlMs }: ChatServiceOptions): ChatService {
  const sessionRunner = (turnTools?: ChatTurnTools): SessionRunner =>
    createSessionRunner({
      store,
      createRunner: (persister) => {
        if (model === undefined) throw modelNotConfigured();
        return createToolLoopRunner({ provider: model.provider, persister, ...(turnTools === undefined ? {} : { mediator: turnTools.mediator }) });
      },
    });
  const replayRunner = sessionRunner();

  return {
    async openTurn(scope, target, request) {
      const clientTools = (request.clientTools ?? []).map(toClientToolDefinition);
      // One transaction decides `chat` and reads the agent: the request's own, or this one.
      const { agent, principal } =
        typeof target === 'string'
          ? await resolveAgentRun(context, { actor: scope.actor, tenantId: scope.tenantId, agentId: target, action: 'chat' })
          : { agent: target.authorized, principal: principalFor(scope, target.authorized, context.now()) };
      // Refused only once the caller may chat: who may not learns nothing of the server's configuration.
      if (model === undefined) throw modelNotConfigured();
      const owner: SessionOwner = { userId: principal.userId, tenantId: scope.tenantId };
      // The memory files depend on neither the session nor its tools: read beside them, not after
      // (docs/decisions/2026-12-01-chat-first-byte.md). A refusal below leaves it unread.
      const composing = composeAgentInstructions(agent, memory, { tenantId: scope.tenantId, userId: actingUserId(scope.actor) }, [], context.memoryPromptCache);
      composing.catch(() => undefined);
      if (request.sessionId !== undefined) {
        const session = await store.getSession(owner, request.sessionId);
        if (session === undefined || session.agentSlug !== agent.slug) throw sessionNotFound(request.sessionId);
      }
      const sessionId = deferred<string>();
      const turnTools = await openChatTools(
        { context, scope, agent, engine, sessionId: () => sessionId.promise },
        { resumedSessionId: request.sessionId, holdable: request.stateless !== true, approvalTtlMs },
      );
      clientTools.forEach((tool, index) => {
        if (turnTools.tools.some((server) => server.name === tool.name)) throw invalidTool(`tools.${index}.function.name`, `"${tool.name}" is the name of one of the server's tools.`);
      });
      const instructions = await composing;
      const fields = { principal, tools: [...turnTools.tools, ...clientTools], model: agent.effectiveConfig.model ?? model.defaultModel, ...(instructions === '' ? {} : { instructions }) };
      const runOptions = request.signal === undefined ? {} : { signal: request.signal };
      const runner = sessionRunner(turnTools);
      // Scheduled before the start, so it runs after the start's promise work (which writes a new
      // session's model request, on a kept-alive connection) and before the open the substrate defers
      // the same way. A connection still to be made is I/O: the request then goes later, the bytes do not wait for it.
      const launched = new Promise<void>((resolve) => setImmediate(resolve));
      let stream: SessionStream;
      try {
        if (request.sessionId === undefined) {
          stream = await runner.stream.start({ ...fields, owner, session: { agentSlug: agent.slug, title: request.title ?? null }, input: request.input }, runOptions);
        } else {
          const approvals = mergeApprovals(turnTools.approvals, request.approvals ?? []);
          if (request.input.length === 0 && approvals.length === 0) throw nothingToContinue(request.sessionId);
          stream = await runner.stream
            .resume({ ...fields, owner, sessionId: request.sessionId, input: request.input, ...(approvals.length === 0 ? {} : { approvals }) }, runOptions)
            .catch((error: unknown) => {
              throw busyOrThrown(error, request.sessionId ?? '');
            });
        }
      } catch (error) {
        sessionId.reject(error);
        throw error;
      }
      sessionId.resolve(stream.session.id);
      const ended = stream.result.then(
        async (outcome) => {
          await turnTools.finish().catch(() => undefined);
          return outcome;
        },
      );
      const settled = request.stateless ? ended.finally(() => store.deleteSession(owner, stream.session.id).catch(() => undefined)) : ended;
      settled.then((outcome) => onTurnEnd?.({ agentSlug: agent.slug, outcome }), () => undefined);
      return { agent, owner, stream, settled, held: turnTools.held, launched };
    },

    async replay(scope, agentRef, sessionId, lastEventId) {
      // Authorizes `chat` and finds the caller's own session, reading none of its messages.
      const { session } = await getChatSession(context, scope, store, agentRef, sessionId, { afterSeq: 2_147_483_647 });
      const owner: SessionOwner = { userId: session.userId, tenantId: session.tenantId };
      // The replay reads lazily; a bad id must be a refusal before anything is sent.
      const events: SessionStreamEvent[] = [];
      try {
        for await (const event of replayRunner.stream.replay(owner, sessionId, lastEventId)) events.push(event);
      } catch (error) {
        if (AgentsApiError.isInstance(error) && error.code === 'transcript.invalid_request') {
          throw new DataMachineError('input.invalid', error.message, { details: { issues: [{ path: 'headers.last-event-id', message: error.message }] }, cause: error });
        }
        throw error;
      }
      return events;
    },
  };
}

/** The turn's own decisions (from the pending actions) win over the client's for the same call. */
function mergeApprovals(fromActions: readonly ApprovalDecision[], fromClient: readonly ApprovalDecision[]): ApprovalDecision[] {
  const decided = new Set(fromActions.map((decision) => decision.toolCallId));
  return [...fromActions, ...fromClient.filter((decision) => !decided.has(decision.toolCallId))];
}

/** A promise settled from outside: the session id a tool needs exists once the run's stream has opened. */
function deferred<T>(): { readonly promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // Nothing may wait on it (no tool was called): a rejection is not unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const jsonSchemaObject = z.record(z.string(), z.unknown());

/** A client tool as a substrate tool: `clientSide`, so a call of it ends the run for the client to answer. */
function toClientToolDefinition(tool: ClientTool, index: number): AnyToolDefinition {
  const path = `tools.${index}`;
  if (!toolNamePattern.test(tool.name)) throw invalidTool(`${path}.function.name`, `"${tool.name}" is not a tool name (letters, digits, _ and -, at most 64).`);
  let input: z.ZodType;
  try {
    input = z.fromJSONSchema(jsonSchemaObject.parse(tool.parameters ?? { type: 'object', properties: {} }) as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    throw invalidTool(`${path}.function.parameters`, `The parameters of tool "${tool.name}" are not a JSON Schema this server can offer.`);
  }
  return {
    name: tool.name,
    description: tool.description ?? '',
    input,
    clientSide: true,
    execute: () => {
      throw new DataMachineError('input.invalid', `Tool "${tool.name}" runs on the client.`);
    },
  };
}

function modelNotConfigured(): HttpError {
  return new HttpError('model.not_configured', 'This server has no model to chat with: set OPENAI_BASE_URL or OPENAI_API_KEY.');
}

function invalidTool(path: string, message: string): DataMachineError {
  return new DataMachineError('input.invalid', message, { details: { issues: [{ path: `body.${path}`, message }] } });
}

function nothingToContinue(sessionId: string): DataMachineError {
  const message = `Session "${sessionId}" has no decided call to continue with: send a message.`;
  return new DataMachineError('input.invalid', message, { details: { issues: [{ path: 'body.message', message }] } });
}

function sessionNotFound(sessionId: string): DataMachineError {
  return new DataMachineError('session.not_found', `There is no session "${sessionId}".`, { details: { sessionId } });
}

/** A session another run holds is the product's `session.busy`; anything else as thrown. */
function busyOrThrown(error: unknown, sessionId: string): unknown {
  if (AgentsApiError.isInstance(error) && error.code === 'transcript.session_locked') {
    return new DataMachineError('session.busy', `Session "${sessionId}" is being run; try again when the run ends.`, { details: { sessionId }, cause: error });
  }
  return error;
}
