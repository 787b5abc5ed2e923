import { describe, expect, it } from 'vitest';
import { createMessage } from './message';
import { replaceNul } from './replace-nul';

describe('replaceNul', () => {
  it('leaves a message without NUL as it is, the same object', () => {
    const message = createMessage({ type: 'text', role: 'assistant', content: 'plain', payload: {} });
    expect(replaceNul(message)).toBe(message);
    expect(message.payload).toEqual({});
  });

  it('replaces NUL with U+FFFD in the content and marks the payload', () => {
    const message = replaceNul(createMessage({ type: 'text', role: 'assistant', content: 'a\u0000b\u0000', payload: {} }));
    expect(message).toMatchObject({ content: 'a\uFFFDb\uFFFD', payload: { nulReplaced: true } });
  });

  it("replaces NUL inside the payload without changing the caller's objects", () => {
    const toolCalls = [{ id: 'call_1', name: 'lookup', arguments: '{"q":"a\u0000"}' }];
    const message = replaceNul(createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls } }));
    expect(message.payload).toEqual({ toolCalls: [{ id: 'call_1', name: 'lookup', arguments: '{"q":"a\uFFFD"}' }], nulReplaced: true });
    expect(toolCalls[0]?.arguments).toBe('{"q":"a\u0000"}');
  });
});
