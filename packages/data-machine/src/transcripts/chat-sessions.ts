import { AgentsApiError, type StoredMessage, type TranscriptSession, type TranscriptStore } from '@data-machine/agents-api';
import { z } from 'zod';
import type { Action } from '../access/actions';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation, type AgentRow } from '../scope/scoped-operation';

/** What the chat-session functions need of a transcript store; agents-api's Postgres store has it. */
export type ChatSessionStore = Pick<TranscriptStore, 'createSession' | 'getSession' | 'listSessions' | 'listAgentSessions' | 'loadMessages' | 'append' | 'deleteSession'>;

/** A chat session as the product shows it: a substrate session of one agent, one user and one tenant. */
export interface ChatSession {
  readonly id: string;
  readonly tenantId: string;
  readonly agentId: string;
  readonly agentSlug: string;
  /** Whose session it is: the user who was authenticated when it started (null for the system). */
  readonly userId: string | null;
  readonly title: string | null;
  /** The sequence number of its last message; 0 before any. */
  readonly lastSeq: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A session with its messages, each carrying the user and tenant it was written for. */
export interface ChatTranscript {
  readonly session: ChatSession;
  readonly messages: readonly StoredMessage[];
}

/** One page of sessions, newest first; pass `nextCursor` back for the next. */
export interface ChatSessionPage {
  readonly sessions: readonly ChatSession[];
  readonly nextCursor: string | null;
}

const titleSchema = z.string().trim().max(500).nullable();

/** What {@link startChatSession} takes. Strict: whose session it is comes from the scope, never from input. */
export const newChatSessionSchema = z.object({ title: titleSchema.default(null) }).strict();

/** What {@link listChatSessions} takes. */
export const chatSessionListSchema = z
  .object({
    /** Every user's sessions with the agent: for the agent's admins (`transcripts.read`). */
    everyUser: z.boolean().default(false),
    limit: z.number().int().min(1).max(500).optional(),
    cursor: z.string().min(1).max(1000).optional(),
  })
  .strict();

/** What {@link getChatSession} takes besides the session id. */
export const chatSessionReadSchema = z
  .object({
    /** Another user's session, for the agent's admins (`transcripts.read`); default the acting user's own. */
    userId: z.string().min(1).max(200).optional(),
    /** Only messages after this sequence number. */
    afterSeq: z.number().int().min(0).optional(),
  })
  .strict();

/**
 * Starts a chat session with an agent (`chat`), owned by the authenticated
 * user in the scope's tenant: the owner comes from the scope alone, and input
 * naming a user is refused (`input.invalid`), nothing written.
 */
export async function startChatSession(
  context: DataMachineContext,
  scope: Scope,
  store: ChatSessionStore,
  agentRef: string,
  input: z.input<typeof newChatSessionSchema> = {},
): Promise<ChatSession> {
  const fields = parseInput(newChatSessionSchema, input, 'chat session');
  const agent = await authorizedAgent(context, scope, 'chat', agentRef);
  const session = await storeCall(() => store.createSession(ownerOf(scope), { agentSlug: agent.slug, title: fields.title }), 'new');
  return toChatSession(session, agent);
}

/**
 * One page of the acting user's own sessions with the agent (`chat`), or, with
 * `everyUser`, of every user's in the tenant (`transcripts.read`). Never a
 * session of another tenant: the store is asked by tenant.
 */
export async function listChatSessions(
  context: DataMachineContext,
  scope: Scope,
  store: ChatSessionStore,
  agentRef: string,
  options: z.input<typeof chatSessionListSchema> = {},
): Promise<ChatSessionPage> {
  const { everyUser, ...page } = parseInput(chatSessionListSchema, options, 'session listing');
  const agent = await authorizedAgent(context, scope, everyUser ? 'transcripts.read' : 'chat', agentRef);
  const found = await storeCall(
    () => (everyUser ? store.listAgentSessions(scope.tenantId, agent.slug, page) : store.listSessions(ownerOf(scope), { ...page, agentSlug: agent.slug })),
    'listing',
  );
  return { sessions: found.sessions.map((session) => toChatSession(session, agent)), nextCursor: found.nextCursor };
}

/**
 * A session and its messages. The acting user's own (`chat`), or, naming
 * `userId`, another user's for an agent admin (`transcripts.read`). A session
 * that does not exist, is of another agent, user or tenant, or may not be
 * read is `session.not_found`, the same error in every case.
 */
export async function getChatSession(
  context: DataMachineContext,
  scope: Scope,
  store: ChatSessionStore,
  agentRef: string,
  sessionId: string,
  options: z.input<typeof chatSessionReadSchema> = {},
): Promise<ChatTranscript> {
  const fields = parseInput(chatSessionReadSchema, options, 'session read');
  const self = actingUserId(scope.actor);
  const ofOther = fields.userId !== undefined && fields.userId !== self;
  // Reading another's session needs more; a refusal reads exactly like a missing session.
  const agent = await authorizedAgent(context, scope, ofOther ? 'transcripts.read' : 'chat', agentRef).catch((error: unknown) => {
    throw ofOther && DataMachineError.isInstance(error) && error.code === 'access.denied' ? sessionNotFound(sessionId) : error;
  });
  const owner = { userId: ofOther ? (fields.userId ?? null) : self, tenantId: scope.tenantId };
  const session = await storeCall(() => store.getSession(owner, sessionId), sessionId);
  if (session === undefined || session.agentSlug !== agent.slug) throw sessionNotFound(sessionId);
  const messages = await storeCall(() => store.loadMessages(owner, sessionId, fields.afterSeq === undefined ? {} : { afterSeq: fields.afterSeq }), sessionId);
  return { session: toChatSession(session, agent), messages };
}

/** Renames one of the acting user's own sessions (`chat`); `session.busy` while a run holds it. */
export async function renameChatSession(
  context: DataMachineContext,
  scope: Scope,
  store: ChatSessionStore,
  agentRef: string,
  sessionId: string,
  title: string | null,
): Promise<ChatSession> {
  const parsedTitle = parseInput(titleSchema, title, 'session title');
  const agent = await ownSession(context, scope, store, agentRef, sessionId);
  // An append of no messages is the store's one way to change a session's fields.
  const { session } = await storeCall(() => store.append(ownerOf(scope), sessionId, [], { title: parsedTitle }), sessionId);
  return toChatSession(session, agent);
}

/** Deletes one of the acting user's own sessions and its messages (`chat`). */
export async function deleteChatSession(context: DataMachineContext, scope: Scope, store: ChatSessionStore, agentRef: string, sessionId: string): Promise<void> {
  await ownSession(context, scope, store, agentRef, sessionId);
  if (!(await storeCall(() => store.deleteSession(ownerOf(scope), sessionId), sessionId))) throw sessionNotFound(sessionId);
}

/**
 * The agent, once `action` on it is allowed, decided on rights loaded in a
 * transaction of their own. The store call follows outside that transaction:
 * the substrate's store has its own connection (and PGlite only one).
 */
function authorizedAgent(context: DataMachineContext, scope: Scope, action: Action, agentRef: string): Promise<AgentRow> {
  return agentOperation(context, scope, action, agentRef, async (_trx, agent) => agent);
}

async function ownSession(context: DataMachineContext, scope: Scope, store: ChatSessionStore, agentRef: string, sessionId: string): Promise<AgentRow> {
  const agent = await authorizedAgent(context, scope, 'chat', agentRef);
  const session = await storeCall(() => store.getSession(ownerOf(scope), sessionId), sessionId);
  if (session === undefined || session.agentSlug !== agent.slug) throw sessionNotFound(sessionId);
  return agent;
}

/** The owner every session of the scope is stored under: the authenticated user in the scope's tenant. */
function ownerOf(scope: Scope): { readonly userId: string | null; readonly tenantId: string } {
  return { userId: actingUserId(scope.actor), tenantId: scope.tenantId };
}

function sessionNotFound(sessionId: string): DataMachineError {
  return new DataMachineError('session.not_found', `There is no session "${sessionId}".`, { details: { sessionId } });
}

/** The store's refusals as the product's codes; anything else (a store failure) passes through. */
async function storeCall<T>(call: () => Promise<T>, sessionId: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!AgentsApiError.isInstance(error)) throw error;
    if (error.code === 'transcript.session_not_found') throw sessionNotFound(sessionId);
    if (error.code === 'transcript.session_locked') {
      throw new DataMachineError('session.busy', `Session "${sessionId}" is being run; try again when the run ends.`, { details: { sessionId }, cause: error });
    }
    if (error.code === 'transcript.invalid_request') {
      throw new DataMachineError('input.invalid', error.message, { details: { issues: [{ path: 'cursor', message: error.message }] }, cause: error });
    }
    throw error;
  }
}

function toChatSession(session: TranscriptSession, agent: AgentRow): ChatSession {
  return {
    id: session.id,
    tenantId: agent.tenant_id,
    agentId: agent.id,
    agentSlug: session.agentSlug,
    userId: session.userId,
    title: session.title,
    lastSeq: session.lastSeq,
    createdAt: session.createdAt,
    updatedAt: session.updatedAt,
  };
}
