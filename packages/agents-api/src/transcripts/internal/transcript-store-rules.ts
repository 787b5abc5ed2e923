import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AgentsApiError } from '../../errors';
import { agentMessageSchema, type AgentMessage } from '../../messages/message';
import { agentSlugSchema } from '../../registry/agent-definition';
import {
  firstKeptIndex,
  newSessionSchema,
  parseTranscriptInput,
  sessionIdSchema,
  sessionOwnerSchema,
  type SessionOwner,
} from '../transcript-store';
import { newRunSchema, runUpdateSchema } from '../run-record';

// What every transcript store checks and decides the same way, so the
// in-memory and Postgres stores cannot drift apart. Not part of the public API.

const metadataSchema = z.record(z.string(), z.unknown());
const sessionUpdateSchema = z.object({ title: z.string().max(500).nullable().optional(), metadata: metadataSchema.optional() });
const listSessionsOptionsSchema = z.object({ agentSlug: agentSlugSchema.optional(), limit: z.int().min(1).max(500).default(50) });
const loadMessagesOptionsSchema = z.object({ afterSeq: z.int().min(0).optional(), last: z.int().min(0).optional() });
const pruneOptionsSchema = z.object({ keepRounds: z.int().min(0) });
const ttlSchema = z.int().min(1);
const tokenSchema = z.string().min(1).max(200);

export type ParsedNewSession = z.infer<typeof newSessionSchema>;
export type ParsedSessionUpdate = z.infer<typeof sessionUpdateSchema>;
export type ParsedListOptions = z.infer<typeof listSessionsOptionsSchema>;
export type ParsedLoadOptions = z.infer<typeof loadMessagesOptionsSchema>;

export const defaultNow = (): Date => new Date();

export function defaultSessionId(): string {
  return `ses_${randomUUID().replaceAll('-', '')}`;
}

export function parseOwner(owner: unknown): SessionOwner {
  return parseTranscriptInput(sessionOwnerSchema, owner, 'session owner');
}

export function parseSessionId(sessionId: unknown): string {
  return parseTranscriptInput(sessionIdSchema, sessionId, 'session id');
}

export function parseNewSession(session: unknown): ParsedNewSession {
  return parseTranscriptInput(newSessionSchema, session, 'new session');
}

export function parseSessionUpdate(update: unknown): ParsedSessionUpdate {
  return parseTranscriptInput(sessionUpdateSchema, update ?? {}, 'session update');
}

export function parseListOptions(options: unknown): ParsedListOptions {
  return parseTranscriptInput(listSessionsOptionsSchema, options ?? {}, 'list options');
}

export function parseLoadOptions(options: unknown): ParsedLoadOptions {
  return parseTranscriptInput(loadMessagesOptionsSchema, options ?? {}, 'load options');
}

export function parseKeepRounds(options: unknown): number {
  return parseTranscriptInput(pruneOptionsSchema, options, 'prune options').keepRounds;
}

export function parseTtl(ttlMs: unknown): number {
  return parseTranscriptInput(ttlSchema, ttlMs, 'lock ttl (a positive whole number of milliseconds)');
}

export function parseToken(token: unknown): string {
  return parseTranscriptInput(tokenSchema, token, 'lock token');
}

/** The append's lock token, if any; checked like any token. */
export function parseAppendToken(options: unknown): string | undefined {
  const token = (options as { lockToken?: unknown } | undefined)?.lockToken;
  return token === undefined ? undefined : parseToken(token);
}

/** Validates the whole batch before anything is written, so a bad message stores nothing. */
export function parseMessagesToAppend(messages: unknown): AgentMessage[] {
  const parsed = parseTranscriptInput(z.array(agentMessageSchema), messages, 'messages');
  const delta = parsed.findIndex((message) => message.type === 'delta');
  if (delta !== -1) {
    throw new AgentsApiError('transcript.invalid_request', `Message ${delta} is a delta: deltas are stream events and are never stored.`, {
      details: { index: delta },
    });
  }
  return parsed;
}

/** The error for a message id the session already holds (or the batch holds twice). */
export function duplicateMessage(sessionId: string, messageId: string): AgentsApiError {
  return new AgentsApiError('transcript.duplicate_message', `Session "${sessionId}" already holds a message "${messageId}"; nothing was written.`, {
    details: { sessionId, messageId },
  });
}

/** A message id the batch holds twice, if any. */
export function repeatedMessageId(messages: readonly AgentMessage[]): string | undefined {
  const seen = new Set<string>();
  for (const message of messages) {
    if (seen.has(message.id)) return message.id;
    seen.add(message.id);
  }
  return undefined;
}

export function parseNewRun(run: unknown): z.infer<typeof newRunSchema> {
  return parseTranscriptInput(newRunSchema, run, 'new run');
}

export function parseRunUpdate(update: unknown): z.infer<typeof runUpdateSchema> {
  return parseTranscriptInput(runUpdateSchema, update, 'run update');
}

export function parseRunId(runId: unknown): string {
  return parseTranscriptInput(sessionIdSchema, runId, 'run id');
}

export function defaultRunId(): string {
  return `run_${randomUUID().replaceAll('-', '')}`;
}

export function sessionExists(sessionId: string): AgentsApiError {
  return new AgentsApiError('transcript.session_exists', `A session "${sessionId}" already exists.`, { details: { sessionId } });
}

/** The owner's ids as the `user_key` / `tenant_key` columns hold them. */
export function ownerKeys(owner: SessionOwner): { readonly userKey: string; readonly tenantKey: string } {
  return { userKey: owner.userId ?? '', tenantKey: owner.tenantId ?? '' };
}

/** The inverse of {@link ownerKeys}: '' is never a valid id, so it can stand for null. */
export function ownerIdFromKey(key: string): string | null {
  return key === '' ? null : key;
}

/**
 * How many messages from the start `prune` removes. Starts from
 * `firstKeptIndex`, then moves the cut back while a kept tool result's call
 * would be removed: a late result (an approved call, a resumed one) is
 * stored after the user's next message, so its call sits in an earlier
 * round, and a result without its call is rejected by chat APIs.
 */
export function prunedCount(messages: readonly AgentMessage[], keepRounds: number): number {
  const callIndex = new Map<string, number>();
  messages.forEach((message, index) => {
    if (message.type === 'tool_call') for (const call of message.payload.toolCalls) callIndex.set(call.id, index);
  });
  let cut = firstKeptIndex(messages, keepRounds);
  for (let index = cut; index < messages.length; index += 1) {
    const message = messages[index];
    if (message?.type !== 'tool_result') continue;
    const callAt = callIndex.get(message.payload.toolCallId);
    if (callAt === undefined || callAt >= cut) continue;
    // Restart the scan: the earlier round may hold late results of its own.
    cut = roundStartAtOrBefore(messages, callAt);
    index = cut - 1;
  }
  return cut;
}

function roundStartAtOrBefore(messages: readonly AgentMessage[], index: number): number {
  for (let candidate = index; candidate >= 0; candidate -= 1) {
    const message = messages[candidate];
    if (message?.type === 'text' && message.role === 'user') return candidate;
  }
  return 0;
}
