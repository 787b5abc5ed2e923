import { describe, expect, expectTypeOf, it } from 'vitest';
import { thrownBy } from '../../test/support/errors';
import type { AgentsApiError } from '../errors';
import { createMessage, parseMessage, type AgentMessage, type TextMessage, type ToolResultMessage } from './message';

const now = () => new Date('2026-11-23T10:00:00.000Z');
const generateId = () => 'msg_fixed';
const toolCall = { id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' };

function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return { schema: 'agents-api.message', version: 1, id: 'msg_1', content: '', metadata: {}, createdAt: '2026-11-23T10:00:00.000Z', ...fields };
}

const validEnvelopes: Record<AgentMessage['type'], Record<string, unknown>> = {
  text: envelope({ type: 'text', role: 'user', content: 'Hi', payload: {} }),
  tool_call: envelope({ type: 'tool_call', role: 'assistant', payload: { toolCalls: [toolCall] } }),
  tool_result: envelope({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } }),
  approval_required: envelope({ type: 'approval_required', role: 'assistant', payload: { toolCall, reason: 'writes data' } }),
  input_required: envelope({ type: 'input_required', role: 'assistant', content: 'Which city?', payload: {} }),
};

function rejection(value: unknown): AgentsApiError {
  return thrownBy(() => parseMessage(value));
}

describe('message envelope', () => {
  describe('createMessage', () => {
    it('fills schema, version, id, metadata and createdAt', () => {
      const message = createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} }, { generateId, now });
      expect(message).toEqual({
        schema: 'agents-api.message',
        version: 1,
        id: 'msg_fixed',
        type: 'text',
        role: 'user',
        content: 'Hi',
        payload: {},
        metadata: {},
        createdAt: '2026-11-23T10:00:00.000Z',
      });
    });

    it('keeps an id and metadata the draft brings', () => {
      const message = createMessage({ id: 'msg_mine', type: 'text', role: 'user', content: 'Hi', payload: {}, metadata: { source: 'cli' } }, { generateId, now });
      expect(message).toMatchObject({ id: 'msg_mine', metadata: { source: 'cli' } });
    });

    it("is typed as the envelope of the draft's type", () => {
      const result = createMessage({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } });
      expectTypeOf(result).toEqualTypeOf<ToolResultMessage>();
      expectTypeOf(createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })).toEqualTypeOf<TextMessage>();
      expect(parseMessage(result)).toEqual(result);
    });

    it('refuses, when compiled, a draft whose role or payload does not fit its type', () => {
      // @ts-expect-error a tool result has role tool
      const wrongRole = createMessage({ type: 'tool_result', role: 'user', content: 'x', payload: { toolCallId: 'c', toolName: 't', isError: false } });
      // @ts-expect-error a tool call's payload lists its calls
      const noCalls = createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: {} });
      // Built unchecked, as JavaScript would: the envelope check still refuses both.
      expect(rejection(wrongRole).code).toBe('message.invalid');
      expect(rejection(noCalls).code).toBe('message.invalid');
    });

    it('makes messages that parseMessage accepts', () => {
      const message = createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [toolCall] } });
      expect(parseMessage(message)).toEqual(message);
    });
  });

  describe('parseMessage', () => {
    it.each(Object.entries(validEnvelopes))('accepts a valid %s envelope', (_type, value) => {
      expect(parseMessage(value)).toEqual(value);
    });

    // The loop never produces these; streamed text is the `text_delta` event, never a message.
    it.each(['final_result', 'error', 'delta'])('rejects type %s, which the package never produces', (type) => {
      const error = rejection({ ...validEnvelopes.text, type });
      expect(error.code).toBe('message.invalid');
      expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'type' })]);
    });

    it('rejects another schema name', () => {
      const error = rejection({ ...validEnvelopes.text, schema: 'someone-else.message' });
      expect(error.code).toBe('message.invalid');
      expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'schema' })]);
    });

    it('rejects another version', () => {
      const error = rejection({ ...validEnvelopes.text, version: 2 });
      expect(error.code).toBe('message.invalid');
      expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'version' })]);
    });

    it('rejects a tool result without the id of the call it answers', () => {
      const error = rejection({ ...validEnvelopes.tool_result, payload: { toolName: 'weather', isError: false } });
      expect(error.code).toBe('message.invalid');
      expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'payload.toolCallId' })]);
    });

    it('rejects a tool result with role user', () => {
      const error = rejection({ ...validEnvelopes.tool_result, role: 'user' });
      expect(error.code).toBe('message.invalid');
      expect(error.details?.issues).toEqual([expect.objectContaining({ path: 'role' })]);
    });

    it('rejects a value that is not an object', () => {
      expect(rejection('hello').code).toBe('message.invalid');
    });
  });
});
