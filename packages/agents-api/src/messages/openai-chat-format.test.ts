import type { ChatCompletionMessage, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { thrownBy } from '../../test/support/errors';
import { describe, expect, it } from 'vitest';
import { createMessage, type AgentMessage, type MessageFactoryOptions } from './message';
import { fromOpenAIChatMessage, fromOpenAIChatMessages, toOpenAIChatMessages } from './openai-chat-format';

function deterministic(): MessageFactoryOptions {
  let counter = 0;
  return { generateId: () => `msg_${++counter}`, now: () => new Date('2026-11-23T10:00:00.000Z') };
}

const weatherCall = { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } } as const;
const timeCall = { id: 'call_2', type: 'function', function: { name: 'time', arguments: '{"zone":"CET"}' } } as const;

function roundTrip(messages: ChatCompletionMessageParam[]): ChatCompletionMessageParam[] {
  return toOpenAIChatMessages(fromOpenAIChatMessages(messages, deterministic()));
}

describe('openai chat format', () => {
  describe('round trip from OpenAI through the envelope', () => {
    it('keeps user, assistant and system text exactly', () => {
      const messages: ChatCompletionMessageParam[] = [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
      ];
      expect(roundTrip(messages)).toEqual(messages);
    });

    it('keeps participant names on user, assistant, system and tool-calling messages', () => {
      const messages: ChatCompletionMessageParam[] = [
        { role: 'system', content: 'Be brief.', name: 'ops' },
        { role: 'user', content: 'Hi', name: 'alice' },
        { role: 'assistant', content: 'Hello.', name: 'bot' },
        { role: 'assistant', content: null, tool_calls: [weatherCall], name: 'bot' },
      ];
      expect(roundTrip(messages)).toEqual(messages);
    });

    it('keeps a user message\'s image parts, which go back to the model as parts', () => {
      const messages: ChatCompletionMessageParam[] = [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ];
      expect(roundTrip(messages)).toEqual(messages);
    });

    it('keeps assistant text said together with a tool call', () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'assistant', content: 'Let me look.', tool_calls: [weatherCall] }];
      expect(roundTrip(messages)).toEqual(messages);
    });

    it('keeps parallel tool calls in order, with null content', () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'assistant', content: null, tool_calls: [weatherCall, timeCall] }];
      expect(roundTrip(messages)).toEqual(messages);
    });

    it('keeps tool results with the ids of the calls they answer', () => {
      const messages: ChatCompletionMessageParam[] = [
        { role: 'user', content: 'Weather and time in Paris?' },
        { role: 'assistant', content: null, tool_calls: [weatherCall, timeCall] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: '10:00' },
        { role: 'assistant', content: 'Sunny, and it is ten.' },
      ];
      expect(roundTrip(messages)).toEqual(messages);
    });
  });

  describe('round trip from the envelope through OpenAI', () => {
    it('keeps type, role, content and payload of every model-visible message', () => {
      const factory = deterministic();
      const messages = [
        createMessage({ type: 'text', role: 'system', content: 'Be brief.', payload: {} }, factory),
        createMessage({ type: 'text', role: 'user', content: 'Weather?', payload: {} }, factory),
        createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{}' }] } }, factory),
        createMessage({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } }, factory),
        createMessage({ type: 'text', role: 'assistant', content: 'Sunny.', payload: {} }, factory),
      ];
      const back = fromOpenAIChatMessages(toOpenAIChatMessages(messages), deterministic());
      const essentials = (message: AgentMessage) => ({ type: message.type, role: message.role, content: message.content, payload: message.payload });
      expect(back.map(essentials)).toEqual(messages.map(essentials));
    });

    it('loses a tool result\'s error flag, which a chat tool message cannot carry', () => {
      const failed = createMessage({
        type: 'tool_result',
        role: 'tool',
        content: 'City not found',
        payload: { toolCallId: 'call_1', toolName: 'weather', isError: true },
      });
      const [back] = fromOpenAIChatMessages(toOpenAIChatMessages([failed]), { toolNames: new Map([['call_1', 'weather']]) });
      expect(back).toMatchObject({ type: 'tool_result', content: 'City not found', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } });
    });

    it('builds complete envelopes with the injected ids and clock', () => {
      const [message] = fromOpenAIChatMessages([{ role: 'user', content: 'Hi' }], deterministic());
      expect(message).toEqual({
        schema: 'agents-api.message',
        version: 1,
        id: 'msg_1',
        type: 'text',
        role: 'user',
        content: 'Hi',
        payload: {},
        metadata: {},
        createdAt: '2026-11-23T10:00:00.000Z',
      });
    });
  });

  describe('to OpenAI', () => {
    it('sends tool results with role tool and the id of the call they answer, never as role user', () => {
      const result = createMessage({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_7', toolName: 'weather', isError: true } });
      expect(toOpenAIChatMessages([result])).toEqual([{ role: 'tool', tool_call_id: 'call_7', content: 'Sunny' }]);
    });

    it('puts the instructions first, as a system message', () => {
      const user = createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} });
      expect(toOpenAIChatMessages([user], 'You are helpful.')).toEqual([
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: 'Hi' },
      ]);
    });

    it('leaves out messages a model never sees', () => {
      const call = { id: 'call_1', name: 'delete_all', arguments: '{}' };
      const messages: AgentMessage[] = [
        createMessage({ type: 'approval_required', role: 'assistant', content: 'May I?', payload: { toolCall: call, reason: 'destructive' } }),
        createMessage({ type: 'input_required', role: 'assistant', content: 'Which city?', payload: {} }),
        createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} }),
      ];
      expect(toOpenAIChatMessages(messages)).toEqual([{ role: 'user', content: 'Hi' }]);
    });

    it('sends an empty list when there are neither messages nor instructions', () => {
      expect(toOpenAIChatMessages([])).toEqual([]);
    });
  });

  describe('from OpenAI', () => {
    it('reads a developer message as system text', () => {
      expect(fromOpenAIChatMessage({ role: 'developer', content: 'Be brief.' })).toMatchObject({ type: 'text', role: 'system', content: 'Be brief.' });
    });

    it('joins content given as text parts', () => {
      const message = fromOpenAIChatMessage({
        role: 'user',
        content: [
          { type: 'text', text: 'Hello, ' },
          { type: 'text', text: 'world.' },
        ],
      });
      expect(message).toMatchObject({ type: 'text', role: 'user', content: 'Hello, world.' });
    });

    it('reads an assistant message taken from a completion response', () => {
      const fromResponse: ChatCompletionMessage = { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [weatherCall] };
      const message = fromOpenAIChatMessage(fromResponse);
      expect(message).toMatchObject({ type: 'tool_call', content: '', payload: { toolCalls: [{ id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' }] } });
    });

    it('takes the name of the answered tool from options', () => {
      const message = fromOpenAIChatMessage({ role: 'tool', tool_call_id: 'call_1', content: 'Sunny' }, { toolNames: new Map([['call_1', 'weather']]) });
      expect(message).toMatchObject({ type: 'tool_result', role: 'tool', payload: { toolCallId: 'call_1', toolName: 'weather', isError: false } });
    });

    it('rejects a tool message that answers no known call', () => {
      const error = thrownBy(() => fromOpenAIChatMessages([{ role: 'tool', tool_call_id: 'call_9', content: 'Sunny' }]));
      expect(error).toMatchObject({ code: 'message.invalid', details: { toolCallId: 'call_9' } });
    });

    it('rejects a tool-call id used by two assistant messages', () => {
      const messages: ChatCompletionMessageParam[] = [
        { role: 'assistant', content: null, tool_calls: [weatherCall] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
        { role: 'assistant', content: null, tool_calls: [{ ...timeCall, id: 'call_1' }] },
      ];
      const error = thrownBy(() => fromOpenAIChatMessages(messages));
      expect(error).toMatchObject({ code: 'message.invalid', details: { toolCallId: 'call_1' } });
    });

    it('rejects a tool-call id used twice in one assistant message', () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'assistant', content: null, tool_calls: [weatherCall, { ...timeCall, id: 'call_1' }] }];
      const error = thrownBy(() => fromOpenAIChatMessages(messages));
      expect(error).toMatchObject({ code: 'message.invalid', details: { toolCallId: 'call_1' } });
    });

    it('accepts a call that options.toolNames already names', () => {
      const messages: ChatCompletionMessageParam[] = [{ role: 'assistant', content: null, tool_calls: [weatherCall] }];
      expect(fromOpenAIChatMessages(messages, { toolNames: new Map([['call_1', 'weather']]) })).toHaveLength(1);
    });

    it('keeps a user message\'s text and image parts in order, with the text joined as content', () => {
      const parts = [
        { type: 'text', text: 'What is in ' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
        { type: 'text', text: 'this picture?' },
      ] as const;
      const message = fromOpenAIChatMessage({ role: 'user', content: [...parts] });
      expect(message).toMatchObject({ type: 'text', role: 'user', content: 'What is in this picture?', payload: { parts } });
    });

    it('refuses an audio part, naming its index and type', () => {
      const error = thrownBy(() =>
        fromOpenAIChatMessage({
          role: 'user',
          content: [
            { type: 'text', text: 'Listen:' },
            { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
          ],
        }),
      );
      expect(error).toMatchObject({ code: 'message.invalid', details: { role: 'user', partIndex: 1, partType: 'input_audio' } });
      expect(error.message).toContain('content part 1 (input_audio)');
    });

    it('refuses a file part, naming its index and type', () => {
      const error = thrownBy(() => fromOpenAIChatMessage({ role: 'user', content: [{ type: 'file', file: { file_id: 'file_1' } }] }));
      expect(error).toMatchObject({ code: 'message.invalid', details: { partIndex: 0, partType: 'file' } });
    });

    it('refuses a refusal part in assistant content', () => {
      const error = thrownBy(() => fromOpenAIChatMessage({ role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] }));
      expect(error).toMatchObject({ code: 'message.invalid', details: { role: 'assistant', partIndex: 0, partType: 'refusal' } });
    });

    it('refuses an image part outside a user message', () => {
      const image = { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } };
      // @ts-expect-error a system message holds text parts only
      const error = thrownBy(() => fromOpenAIChatMessage({ role: 'system', content: [image] }));
      expect(error).toMatchObject({ code: 'message.invalid', details: { role: 'system', partIndex: 0, partType: 'image_url' } });
    });

    it('rejects the legacy function role', () => {
      const error = thrownBy(() => fromOpenAIChatMessage({ role: 'function', name: 'weather', content: 'Sunny' }));
      expect(error.code).toBe('message.invalid');
    });

    it('rejects an assistant refusal', () => {
      const error = thrownBy(() => fromOpenAIChatMessage({ role: 'assistant', content: null, refusal: 'I cannot help with that.' }));
      expect(error.code).toBe('message.invalid');
    });

    it('keeps a participant name in payload.name', () => {
      expect(fromOpenAIChatMessage({ role: 'user', content: 'Hi', name: 'alice' })).toMatchObject({ payload: { name: 'alice' } });
      expect(fromOpenAIChatMessage({ role: 'system', content: 'Be brief.', name: 'ops' })).toMatchObject({ payload: { name: 'ops' } });
      expect(fromOpenAIChatMessage({ role: 'assistant', content: null, name: 'bot', tool_calls: [weatherCall] })).toMatchObject({
        type: 'tool_call',
        payload: { name: 'bot' },
      });
    });

    it('rejects a custom tool call', () => {
      const error = thrownBy(() =>
        fromOpenAIChatMessage({ role: 'assistant', tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'grep', input: 'x' } }] }),
      );
      expect(error.code).toBe('message.invalid');
    });
  });
});
