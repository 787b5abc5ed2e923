import { randomUUID } from 'node:crypto';
import { createMessage, type AgentMessage } from '../../messages/message';
import type { LockAcquisition, SessionOwner } from '../transcript-store';

// Fixtures of the transcript store contract suite; not part of the public API.
export { codeOf, createTestClock, type TestClock } from '../../testing/contract-support';

export const userText = (content: string) => createMessage({ type: 'text', role: 'user', content, payload: {} });
/** A message of another envelope schema, as a JavaScript caller or a foreign process may hand a store. */
export function foreignMessage(): AgentMessage {
  // @ts-expect-error the envelope's schema name is a literal; a store must still refuse another at run time
  return { ...userText('bad'), schema: 'someone-else.message' };
}
/** A message whose type the envelope does not have (a stream's `delta`, say), as a JavaScript caller may hand a store. */
export function messageOfType(type: string): AgentMessage {
  // @ts-expect-error a message's type is one of the envelope's
  return { ...assistantText('partial'), type };
}
export const assistantText = (content: string) => createMessage({ type: 'text', role: 'assistant', content, payload: {} });
const toolCall = (...callIds: string[]) =>
  createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: callIds.map((id) => ({ id, name: 'lookup', arguments: '{}' })) } });
const toolResult = (callId: string) =>
  createMessage({ type: 'tool_result', role: 'tool', content: 'found', payload: { toolCallId: callId, toolName: 'lookup', isError: false } });
const heldForApproval = (callId: string) =>
  createMessage({ type: 'approval_required', role: 'assistant', content: 'needs approval', payload: { toolCall: { id: callId, name: 'lookup', arguments: '{}' }, reason: 'needs approval' } });

/**
 * Rounds with tool calls, including a late result: a call held for approval
 * whose result is stored after the user's next message, as a resumed run stores it.
 */
export function roundsWithTools(): AgentMessage[] {
  return [
    userText('one'), toolCall('c1'), toolResult('c1'), assistantText('one done'),
    userText('two'), toolCall('c2a', 'c2b'), toolResult('c2a'), toolResult('c2b'), assistantText('two done'),
    userText('three'), toolCall('c3'), heldForApproval('c3'),
    userText('approved, go on'), toolResult('c3'), assistantText('three done'),
    userText('four'), assistantText('four done'),
  ];
}

/** Owners that differ from the test's owner in one id; each must see nothing of the owner's sessions. */
export const strangers: [string, Partial<SessionOwner>][] = [
  ['another user of the same tenant', { userId: 'user-2' }],
  ['the same user in another tenant', { tenantId: `other-${randomUUID()}` }],
  ['the same user with no tenant', { tenantId: null }],
  ['a caller with no user in the same tenant', { userId: null }],
];

/** The token of an acquired lock; throws (failing the test) for a held one. */
export function tokenOf(lock: LockAcquisition): string {
  if (!lock.acquired) throw new Error(`expected the lock to be acquired, it is held until ${lock.expiresAt.toISOString()}`);
  return lock.token;
}

/** The call ids of tool results whose call is not among `messages`. */
export function orphanResults(messages: readonly AgentMessage[]): string[] {
  const calls = new Set(messages.flatMap((message) => (message.type === 'tool_call' ? message.payload.toolCalls.map((call) => call.id) : [])));
  return messages.flatMap((message) => (message.type === 'tool_result' && !calls.has(message.payload.toolCallId) ? [message.payload.toolCallId] : []));
}
