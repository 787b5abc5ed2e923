import { messageSchemaName, messageSchemaVersion, type AgentMessage } from './message';

/**
 * Parses a list of messages with `parse` (zod, an array of `agentMessageSchema`),
 * checking the common, well-formed list by hand first: a list every message
 * of which {@link isWellFormedMessage} accepts is returned as a new array of
 * the same messages, which is what the schema would give back. Anything else
 * goes to `parse` (zod), which accepts it or explains what is wrong. zod's
 * parse of a one-message input cost more than the rest of a session stream's
 * start before its model request. See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 23".
 */
export function parseMessageList(value: unknown, parse: (value: unknown) => AgentMessage[]): AgentMessage[] {
  if (Array.isArray(value) && value.every(isWellFormedMessage)) return [...(value as AgentMessage[])];
  return parse(value);
}

/**
 * Whether `value` is a message exactly as `agentMessageSchema` gives one back:
 * a strict subset of the schema (whatever this accepts, the schema accepts
 * and returns equal), with no field the schema would drop, and `createdAt` in
 * the form `createMessage` writes (`Date#toISOString`).
 */
export function isWellFormedMessage(value: unknown): value is AgentMessage {
  if (!isPlainRecord(value) || Object.keys(value).length !== envelopeKeyCount) return false;
  if (value.schema !== messageSchemaName || value.version !== messageSchemaVersion) return false;
  if (!isNonEmptyString(value.id) || typeof value.content !== 'string' || !isPlainRecord(value.metadata) || !isCanonicalInstant(value.createdAt)) return false;
  const { payload } = value;
  if (!isPlainRecord(payload)) return false;
  switch (value.type) {
    case 'text':
      return value.role === 'user' || value.role === 'assistant' || value.role === 'system';
    case 'input_required':
      return value.role === 'assistant';
    case 'tool_call':
      return value.role === 'assistant' && Array.isArray(payload.toolCalls) && payload.toolCalls.length > 0 && payload.toolCalls.every(isExactToolCall);
    case 'tool_result':
      return value.role === 'tool' && isNonEmptyString(payload.toolCallId) && isNonEmptyString(payload.toolName) && typeof payload.isError === 'boolean';
    case 'approval_required':
      return value.role === 'assistant' && isExactToolCall(payload.toolCall) && typeof payload.reason === 'string';
    default:
      return false;
  }
}

/** schema, version, id, type, role, content, payload, metadata, createdAt. */
const envelopeKeyCount = 9;

/** A tool call with exactly the schema's fields: the schema drops any other. */
function isExactToolCall(call: unknown): boolean {
  return isPlainRecord(call) && Object.keys(call).length === 3 && isNonEmptyString(call.id) && isNonEmptyString(call.name) && typeof call.arguments === 'string';
}

/** A plain object with string keys only (a record schema refuses symbol keys). */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return (prototype === Object.prototype || prototype === null) && Object.getOwnPropertySymbols(value).length === 0;
}

function isNonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0;
}

/**
 * `Date#toISOString`'s own form of a real instant (never `2026-02-30` or
 * `24:00`), a subset of an ISO datetime with an offset. Read digit by digit:
 * `Date.parse` and a round trip cost more than the rest of the check.
 */
function isCanonicalInstant(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 24 || !canonicalInstant.test(value)) return false;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  return Number(value.slice(11, 13)) < 24 && Number(value.slice(14, 16)) < 60 && Number(value.slice(17, 19)) < 60;
}

const canonicalInstant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
