import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { agentMessageSchema, createMessage, type AgentMessage } from './message';
import { isWellFormedMessage, parseMessageList } from './well-formed-message';

const toolCall = { id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' };

function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return { schema: 'agents-api.message', version: 1, id: 'msg_1', content: '', metadata: {}, createdAt: '2026-11-23T10:00:00.000Z', ...fields };
}

const wellFormed: Record<AgentMessage['type'], Record<string, unknown>> = {
  text: envelope({ type: 'text', role: 'user', content: 'Hi', payload: { source: 'chat' }, metadata: { trace: { id: 1 } } }),
  tool_call: envelope({ type: 'tool_call', role: 'assistant', payload: { toolCalls: [toolCall], usage: { inputTokens: 3 } } }),
  tool_result: envelope({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } }),
  approval_required: envelope({ type: 'approval_required', role: 'assistant', payload: { toolCall, reason: 'writes data' } }),
  input_required: envelope({ type: 'input_required', role: 'assistant', content: 'Which city?', payload: {} }),
};

/** Values the hand check must leave to zod: each is off in one way (some of them zod still accepts, changed). */
const offByOne: Record<string, unknown> = {
  'a field the schema drops': { ...wellFormed.text, extra: true },
  'a tool call with a field the schema drops': envelope({ type: 'tool_call', role: 'assistant', payload: { toolCalls: [{ ...toolCall, type: 'function' }] } }),
  'an instant with an offset': { ...wellFormed.text, createdAt: '2026-11-23T11:00:00.000+01:00' },
  'an instant without milliseconds': { ...wellFormed.text, createdAt: '2026-11-23T10:00:00Z' },
  'a day the month does not have': { ...wellFormed.text, createdAt: '2026-02-30T10:00:00.000Z' },
  'a leap day of a year without one': { ...wellFormed.text, createdAt: '2100-02-29T10:00:00.000Z' },
  'a thirty-first of a thirty-day month': { ...wellFormed.text, createdAt: '2026-04-31T10:00:00.000Z' },
  'hour 24': { ...wellFormed.text, createdAt: '2026-11-23T24:00:00.000Z' },
  'month 13': { ...wellFormed.text, createdAt: '2026-13-01T10:00:00.000Z' },
  'another version': { ...wellFormed.text, version: 2 },
  'another schema name': { ...wellFormed.text, schema: 'other.message' },
  'an empty id': { ...wellFormed.text, id: '' },
  'a role its type does not have': { ...wellFormed.tool_result, role: 'assistant' },
  'a type the envelope does not have': { ...wellFormed.text, type: 'delta' },
  'no tool calls': envelope({ type: 'tool_call', role: 'assistant', payload: { toolCalls: [] } }),
  'an empty tool name': envelope({ type: 'tool_result', role: 'tool', payload: { toolCallId: 'call_1', toolName: '', isError: false } }),
  'an array for metadata': { ...wellFormed.text, metadata: [] },
  'a payload that is not a plain object': { ...wellFormed.text, payload: new Map() },
  'a symbol key in metadata': { ...wellFormed.text, metadata: { [Symbol('trace')]: 1 } },
  'a missing payload': { ...wellFormed.text, payload: undefined },
  'not an object': 'hello',
};

describe('well-formed message check', () => {
  it('accepts every message type as createMessage makes it', () => {
    const made: AgentMessage[] = [
      createMessage({ type: 'text', role: 'system', content: 'Be brief.', payload: {} }),
      createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [toolCall] } }),
      createMessage({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_1', toolName: 'weather', isError: true } }),
      createMessage({ type: 'approval_required', role: 'assistant', content: 'Approve?', payload: { toolCall, reason: 'writes' } }),
      createMessage({ type: 'input_required', role: 'assistant', content: 'Which city?', payload: {}, metadata: { turn: 1 } }),
    ];
    expect(made.map(isWellFormedMessage)).toEqual(made.map(() => true));
  });

  it('accepts the leap day of a leap year, as the schema does', () => {
    const leapDay = { ...wellFormed.text, createdAt: '2000-02-29T23:59:59.999Z' };
    expect(isWellFormedMessage(leapDay)).toBe(true);
    expect(agentMessageSchema.parse(leapDay)).toEqual(leapDay);
  });

  it.each(Object.entries(wellFormed))('accepts only what the schema gives back unchanged: %s', (_type, value) => {
    expect(isWellFormedMessage(value)).toBe(true);
    expect(agentMessageSchema.parse(value)).toEqual(value);
  });

  it.each(Object.entries(offByOne))('leaves %s to the schema', (_case, value) => {
    expect(isWellFormedMessage(value)).toBe(false);
  });

  it('returns a new list of the same messages for a well-formed list, without asking the schema', () => {
    const list = [wellFormed.text, wellFormed.tool_call];
    let asked = 0;
    const parsed = parseMessageList(list, () => {
      asked += 1;
      return [];
    });
    expect(asked).toBe(0);
    expect(parsed).not.toBe(list);
    expect(parsed).toEqual(list);
    expect(parsed[0]).toBe(list[0]);
  });

  it('gives anything else to the schema, which strips, accepts or refuses it', () => {
    const schema = z.array(agentMessageSchema);
    expect(parseMessageList([offByOne['a field the schema drops']], (value) => schema.parse(value))).toEqual([wellFormed.text]);
    expect(parseMessageList({ length: 1 }, (value) => schema.safeParse(value).data ?? [])).toEqual([]);
    expect(() => parseMessageList([offByOne['an empty id']], (value) => schema.parse(value))).toThrow(z.ZodError);
  });
});
