import { errorReply, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { rejectionOf } from '../../test/support/errors';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentsApiError } from '../errors';
import { createMessage, type AgentMessage } from '../messages/message';
import type { ModelProvider, ModelRequest, ModelStreamEvent } from './model-provider';
import { createOpenAIProvider, type OpenAIProviderOptions } from './openai-provider';

const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });
const ask: ModelRequest = { messages: [userSays('What is the weather in Paris?')] };
const weatherTool = {
  name: 'weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

async function collect(events: AsyncIterable<ModelStreamEvent>): Promise<ModelStreamEvent[]> {
  const collected: ModelStreamEvent[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

function failure(run: () => Promise<unknown>): Promise<AgentsApiError> {
  return rejectionOf(run());
}

describe('openai provider', () => {
  let server: ModelServer;
  let providerWith: (options?: Partial<OpenAIProviderOptions>) => ModelProvider;
  let provider: ModelProvider;
  const lastRequest = () => server.completionRequests().at(-1);

  beforeAll(async () => {
    server = await startModelServer({ models: ['test-model'] });
    providerWith = (options = {}) => createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0, ...options });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.setHandler(undefined);
    provider = providerWith();
  });

  it('is named openai', () => {
    expect(provider.name).toBe('openai');
  });

  describe('complete', () => {
    it('returns the text of a plain answer', async () => {
      server.enqueue(textReply('Sunny in Paris.'));
      const response = await provider.complete(ask);
      expect(response).toMatchObject({ content: 'Sunny in Paris.', toolCalls: [], finishReason: 'stop', model: 'test-model' });
    });

    it('returns parallel tool calls in order, with null content', async () => {
      server.enqueue(
        toolCallReply({ id: 'call_a', name: 'weather', arguments: { city: 'Paris' } }, { id: 'call_b', name: 'weather', arguments: { city: 'Rome' } }),
      );
      const response = await provider.complete({ ...ask, tools: [weatherTool] });
      expect(response.content).toBeNull();
      expect(response.finishReason).toBe('tool_calls');
      expect(response.toolCalls).toEqual([
        { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
        { id: 'call_b', name: 'weather', arguments: '{"city":"Rome"}' },
      ]);
    });

    it('reports usage as input, output and total tokens', async () => {
      server.enqueue(textReply('ok', { usage: { promptTokens: 12, completionTokens: 3 } }));
      const response = await provider.complete(ask);
      expect(response.usage).toEqual({ inputTokens: 12, outputTokens: 3, totalTokens: 15 });
    });

    it('reports cached input tokens and reasoning tokens when the server reports them', async () => {
      server.enqueue(textReply('ok', { usage: { promptTokens: 120, completionTokens: 30, cachedPromptTokens: 100, reasoningTokens: 20 } }));
      const response = await provider.complete(ask);
      expect(response.usage).toStrictEqual({ inputTokens: 120, outputTokens: 30, totalTokens: 150, cachedInputTokens: 100, reasoningTokens: 20 });
    });

    it('reports no usage, rather than zero, when the server reports none', async () => {
      server.enqueue(textReply('ok', { usage: null }));
      const response = await provider.complete(ask);
      expect(response.usage).toStrictEqual({});
    });

    it('reports only the usage fields the server sent', async () => {
      const body = { model: 'test-model', choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 7 } };
      server.enqueue({ type: 'malformed', body: JSON.stringify(body) });
      const response = await provider.complete(ask);
      expect(response.usage).toStrictEqual({ inputTokens: 7 });
    });

    it('maps a finish reason it does not know to other', async () => {
      const body = { model: 'test-model', choices: [{ message: { content: 'ok' }, finish_reason: 'function_call' }] };
      server.enqueue({ type: 'malformed', body: JSON.stringify(body) });
      expect((await provider.complete(ask)).finishReason).toBe('other');
    });

    it('accepts what compatible servers vary: nulls for absent fields, extra fields, a missing model', async () => {
      const body = {
        choices: [{ message: { content: 'ok', tool_calls: null, refusal: null }, finish_reason: null, logprobs: null }],
        usage: null,
        system_fingerprint: 'fp',
      };
      server.enqueue({ type: 'malformed', body: JSON.stringify(body) });
      expect(await provider.complete(ask)).toEqual({
        content: 'ok',
        toolCalls: [],
        finishReason: 'other',
        usage: {},
        model: 'test-model',
      });
    });

    it('refuses a usage count that is not a finite number', async () => {
      const body = { choices: [{ message: { content: 'ok' } }], usage: { prompt_tokens: 1e400 } };
      server.enqueue({ type: 'malformed', body: JSON.stringify(body).replace('"prompt_tokens":null', '"prompt_tokens":1e400') });
      expect((await failure(() => provider.complete(ask))).code).toBe('provider.bad_response');
    });

    it('reports a cut-off answer as length', async () => {
      server.enqueue(textReply('Sunny in', { finishReason: 'length' }));
      expect((await provider.complete(ask)).finishReason).toBe('length');
    });
  });

  describe('the request it sends', () => {
    it('sends the instructions as the first system message', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, instructions: 'You are a weather assistant.' });
      expect(lastRequest()?.messages).toEqual([
        { role: 'system', content: 'You are a weather assistant.' },
        { role: 'user', content: 'What is the weather in Paris?' },
      ]);
    });

    it('sends tools as function tools with their JSON schema', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, tools: [weatherTool] });
      expect(lastRequest()?.tools).toEqual([
        { type: 'function', function: { name: 'weather', description: 'The weather in a city', parameters: weatherTool.parameters } },
      ]);
    });

    it('leaves tools out when there are none', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, tools: [] });
      expect(lastRequest()?.body).not.toHaveProperty('tools');
    });

    it('sends only what the request sets: no temperature or output token limit when unset', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, instructions: undefined, model: undefined, temperature: undefined, maxOutputTokens: undefined });
      expect(Object.keys(lastRequest()?.body ?? {}).sort()).toEqual(['messages', 'model']);
      expect(lastRequest()?.body).toMatchObject({ model: 'test-model' });
    });

    it('sends the request model, temperature and output token limit', async () => {
      server.enqueue(textReply('ok'));
      const response = await provider.complete({ ...ask, model: 'other-model', temperature: 0.2, maxOutputTokens: 100 });
      expect(lastRequest()?.body).toMatchObject({ model: 'other-model', temperature: 0.2, max_completion_tokens: 100 });
      expect(response.model).toBe('other-model');
    });

    it('sends top_p, stop, tool_choice and a JSON schema response format when set', async () => {
      server.enqueue(textReply('{"city":"Paris"}'));
      const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
      await provider.complete({
        ...ask,
        tools: [weatherTool],
        topP: 0.9,
        stop: ['END', 'STOP'],
        toolChoice: 'required',
        responseFormat: { type: 'json_schema', name: 'city', schema, strict: true },
      });
      expect(lastRequest()?.body).toMatchObject({
        top_p: 0.9,
        stop: ['END', 'STOP'],
        tool_choice: 'required',
        response_format: { type: 'json_schema', json_schema: { name: 'city', schema, strict: true } },
      });
    });

    it('sends a tool choice that names a tool in OpenAI\'s function shape', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, tools: [weatherTool], toolChoice: { name: 'weather' } });
      expect(lastRequest()?.body).toMatchObject({ tool_choice: { type: 'function', function: { name: 'weather' } } });
    });

    it('sends a single stop string and a json_object response format as they are', async () => {
      server.enqueue(textReply('{}'));
      await provider.complete({ ...ask, stop: 'END', responseFormat: { type: 'json_object' }, toolChoice: 'none' });
      expect(lastRequest()?.body).toMatchObject({ stop: 'END', response_format: { type: 'json_object' }, tool_choice: 'none' });
    });

    it('sends none of the sampling and output fields when unset', async () => {
      server.enqueue(textReply('ok'));
      await provider.complete({ ...ask, topP: undefined, stop: undefined, toolChoice: undefined, responseFormat: undefined });
      expect(Object.keys(lastRequest()?.body ?? {}).sort()).toEqual(['messages', 'model']);
    });

    it('sends tool calls and their results as OpenAI chat messages', async () => {
      const call = { id: 'call_w', name: 'weather', arguments: '{"city":"Paris"}' };
      server.enqueue(textReply('Sunny.'));
      await provider.complete({
        messages: [
          userSays('Weather?'),
          createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [call] } }),
          createMessage({ type: 'tool_result', role: 'tool', content: 'Sunny', payload: { toolCallId: 'call_w', toolName: 'weather', isError: false } }),
        ],
      });
      expect(lastRequest()?.messages.slice(1)).toEqual([
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_w', content: 'Sunny' },
      ]);
    });

    it('sends a user message\'s image parts and participant name', async () => {
      server.enqueue(textReply('A cat.'));
      const parts = [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ];
      await provider.complete({ messages: [createMessage({ type: 'text', role: 'user', content: 'What is this?', payload: { parts, name: 'alice' } })] });
      expect(lastRequest()?.messages).toEqual([{ role: 'user', content: parts, name: 'alice' }]);
    });

    it('asks for usage when it streams', async () => {
      server.enqueue(textReply('ok'));
      await collect(provider.stream(ask));
      expect(lastRequest()).toMatchObject({ stream: true, includeUsage: true });
    });
  });

  describe('stream', () => {
    it('yields text deltas as they arrive, then exactly one response', async () => {
      server.enqueue(textReply('Sunny in Paris.', { usage: { promptTokens: 9, completionTokens: 4 } }));
      const events = await collect(provider.stream(ask));
      expect(events.filter((event) => event.type === 'text_delta').map((event) => event.text)).toEqual(['Sunny ', 'in ', 'Paris.']);
      expect(events.filter((event) => event.type === 'response')).toHaveLength(1);
      expect(events.at(-1)).toEqual({
        type: 'response',
        response: {
          content: 'Sunny in Paris.',
          toolCalls: [],
          finishReason: 'stop',
          usage: { inputTokens: 9, outputTokens: 4, totalTokens: 13 },
          model: 'test-model',
        },
      });
    });

    it('joins streamed fragments of parallel tool calls by index', async () => {
      server.enqueue(
        toolCallReply({ id: 'call_a', name: 'weather', arguments: { city: 'Paris' } }, { id: 'call_b', name: 'weather', arguments: { city: 'Rome' } }),
      );
      const events = await collect(provider.stream({ ...ask, tools: [weatherTool] }));
      expect(events.filter((event) => event.type === 'response')).toHaveLength(1);
      expect(events.at(-1)).toMatchObject({
        type: 'response',
        response: {
          content: null,
          finishReason: 'tool_calls',
          toolCalls: [
            { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
            { id: 'call_b', name: 'weather', arguments: '{"city":"Rome"}' },
          ],
        },
      });
    });

    it('yields tool-call argument deltas by index, with id and name on the first fragment of each call', async () => {
      server.enqueue(
        toolCallReply({ id: 'call_a', name: 'weather', arguments: { city: 'Paris' } }, { id: 'call_b', name: 'weather', arguments: { city: 'Rome' } }),
      );
      const events = await collect(provider.stream({ ...ask, tools: [weatherTool] }));
      const deltas = events.filter((event) => event.type === 'tool_call_delta');
      // The model server sends arguments in 8-character pieces, after a first chunk with the id and name.
      expect(deltas.filter((delta) => delta.index === 0).length).toBeGreaterThan(2);
      for (const [index, id] of ['call_a', 'call_b'].entries()) {
        const ofCall = deltas.filter((delta) => delta.index === index);
        expect(ofCall[0]).toMatchObject({ toolCallId: id, toolName: 'weather' });
        expect(ofCall.slice(1).every((delta) => delta.toolCallId === undefined && delta.toolName === undefined)).toBe(true);
      }
      expect(deltas.filter((delta) => delta.index === 1).map((delta) => delta.argumentsDelta).join('')).toBe('{"city":"Rome"}');
      expect(events.findIndex((event) => event.type === 'tool_call_delta')).toBeLessThan(events.findIndex((event) => event.type === 'response'));
    });

    it('reports cached and reasoning tokens of a stream', async () => {
      server.enqueue(textReply('ok', { usage: { promptTokens: 50, completionTokens: 10, cachedPromptTokens: 40, reasoningTokens: 6 } }));
      const events = await collect(provider.stream(ask));
      expect(events.at(-1)).toMatchObject({ response: { usage: { inputTokens: 50, outputTokens: 10, totalTokens: 60, cachedInputTokens: 40, reasoningTokens: 6 } } });
    });

    it('keeps text said alongside tool calls', async () => {
      server.enqueue({ type: 'message', content: 'Let me look.', toolCalls: [{ id: 'call_a', name: 'weather', arguments: { city: 'Paris' } }] });
      const events = await collect(provider.stream({ ...ask, tools: [weatherTool] }));
      expect(events.at(-1)).toMatchObject({ response: { content: 'Let me look.', toolCalls: [{ id: 'call_a' }] } });
    });
  });

  describe('errors', () => {
    it('maps a 401 to provider.auth_failed', async () => {
      server.enqueue(errorReply(401, { message: 'bad key', code: 'invalid_api_key' }));
      const error = await failure(() => provider.complete(ask));
      expect(error).toMatchObject({ code: 'provider.auth_failed', details: { status: 401, providerCode: 'invalid_api_key' } });
      expect(error.cause).toBeInstanceOf(Error);
    });

    it('maps a 403 to provider.auth_failed', async () => {
      server.enqueue(errorReply(403));
      expect((await failure(() => provider.complete(ask))).code).toBe('provider.auth_failed');
    });

    it('maps a 429 to provider.rate_limited with the retry-after it was given', async () => {
      server.enqueue(errorReply(429, { retryAfterSeconds: 30 }));
      const error = await failure(() => provider.complete(ask));
      expect(error).toMatchObject({ code: 'provider.rate_limited', details: { status: 429, retryAfterSeconds: 30 } });
    });

    it('maps a 500 to provider.unavailable', async () => {
      server.enqueue(errorReply(500, { message: 'boom' }));
      const error = await failure(() => provider.complete(ask));
      expect(error).toMatchObject({ code: 'provider.unavailable', details: { status: 500 } });
      expect(error.message).toContain('boom');
    });

    it('maps a 400 to provider.bad_request', async () => {
      server.enqueue(errorReply(400, { message: 'messages must not be empty' }));
      expect(await failure(() => provider.complete(ask))).toMatchObject({ code: 'provider.bad_request', details: { status: 400 } });
    });

    it('maps a 404 for an unknown model to provider.bad_request', async () => {
      server.enqueue(errorReply(404, { code: 'model_not_found' }));
      expect((await failure(() => provider.complete(ask))).code).toBe('provider.bad_request');
    });

    it('maps an unparseable body to provider.bad_response', async () => {
      server.enqueue({ type: 'malformed' });
      const error = await failure(() => provider.complete(ask));
      expect(error.code).toBe('provider.bad_response');
      expect(error.cause).toBeInstanceOf(SyntaxError);
    });

    it('maps a completion without choices to provider.bad_response', async () => {
      server.enqueue({ type: 'malformed', body: JSON.stringify({ model: 'test-model', choices: [] }) });
      const error = await failure(() => provider.complete(ask));
      expect(error).toMatchObject({ code: 'provider.bad_response', details: { issues: [expect.objectContaining({ path: 'choices' })] } });
    });

    it('maps a tool call without an id to provider.bad_response', async () => {
      const body = { model: 'test-model', choices: [{ message: { content: null, tool_calls: [{ type: 'function', function: { name: 'weather', arguments: '{}' } }] } }] };
      server.enqueue({ type: 'malformed', body: JSON.stringify(body) });
      expect((await failure(() => provider.complete(ask))).code).toBe('provider.bad_response');
    });

    it('maps a client timeout to provider.timeout, which is retryable', async () => {
      server.enqueue(textReply('too late', { delayMs: 10_000 }));
      const error = await failure(() => providerWith({ timeoutMs: 50 }).complete(ask));
      expect(error).toMatchObject({ code: 'provider.timeout', retryable: true });
    });

    it('gives each attempt 60 seconds when no timeout is set, and tells the server', async () => {
      const timeoutSent = () => server.requests.at(-1)?.headers['x-stainless-timeout'];
      server.enqueue(textReply('Sunny.'), textReply('Sunny.'), textReply('Sunny.'));
      await createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model' }).complete(ask);
      expect(timeoutSent()).toBe('60');
      await collect(createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model' }).stream(ask));
      expect(timeoutSent()).toBe('60');
      await providerWith({ timeoutMs: 5_000 }).complete(ask);
      expect(timeoutSent()).toBe('5');
    });

    it('applies the timeout to each attempt and retries a timed-out one', async () => {
      const before = server.completionRequests().length;
      server.enqueue(textReply('too late', { delayMs: 10_000 }), textReply('Sunny.'));
      const response = await providerWith({ timeoutMs: 1_000, maxRetries: 1 }).complete(ask);
      expect(response.content).toBe('Sunny.');
      expect(server.completionRequests().length - before).toBe(2);
    });

    it('marks a bad request as not retryable', async () => {
      server.enqueue(errorReply(400));
      expect(await failure(() => provider.complete(ask))).toMatchObject({ code: 'provider.bad_request', retryable: false });
    });

    it('maps a refused connection to provider.unavailable', async () => {
      const closed = await startModelServer();
      await closed.close();
      const unreachable = providerWith({ baseURL: closed.baseURL });
      expect((await failure(() => unreachable.complete(ask))).code).toBe('provider.unavailable');
    });

    it('maps an already aborted signal to provider.cancelled without calling the model', async () => {
      const before = server.completionRequests().length;
      const controller = new AbortController();
      controller.abort();
      expect((await failure(() => provider.complete(ask, { signal: controller.signal }))).code).toBe('provider.cancelled');
      expect(server.completionRequests()).toHaveLength(before);
    });

    it('maps an abort while waiting for the model to provider.cancelled', async () => {
      const controller = new AbortController();
      server.setHandler(() => {
        controller.abort();
        return textReply('too late', { delayMs: 10_000 });
      });
      expect((await failure(() => provider.complete(ask, { signal: controller.signal }))).code).toBe('provider.cancelled');
    });
  });

  describe('stream errors', () => {
    it('maps a 401 to provider.auth_failed', async () => {
      server.enqueue(errorReply(401));
      expect((await failure(() => collect(provider.stream(ask)))).code).toBe('provider.auth_failed');
    });

    it('maps a body that is not an event stream to provider.bad_response', async () => {
      server.enqueue({ type: 'malformed' });
      expect((await failure(() => collect(provider.stream(ask)))).code).toBe('provider.bad_response');
    });

    it('maps a wrongly shaped chunk to provider.bad_response', async () => {
      server.enqueue({ type: 'malformed', body: 'data: {"choices":[{"delta":{"tool_calls":[{"index":"first"}]}}]}\n\ndata: [DONE]\n\n' });
      const error = await failure(() => collect(provider.stream(ask)));
      expect(error).toMatchObject({ code: 'provider.bad_response', details: { issues: [expect.objectContaining({ path: 'choices.0.delta.tool_calls.0.index' })] } });
    });

    it('maps a chunk whose text is not a string, or whose tool-call index is negative, to provider.bad_response', async () => {
      server.enqueue({ type: 'malformed', body: 'data: {"choices":[{"delta":{"content":7}}]}\n\ndata: [DONE]\n\n' });
      expect(await failure(() => collect(provider.stream(ask)))).toMatchObject({ code: 'provider.bad_response', details: { issues: [expect.objectContaining({ path: 'choices.0.delta.content' })] } });
      server.enqueue({ type: 'malformed', body: 'data: {"choices":[{"delta":{"tool_calls":[{"index":-1}]}}]}\n\ndata: [DONE]\n\n' });
      expect(await failure(() => collect(provider.stream(ask)))).toMatchObject({ code: 'provider.bad_response', details: { issues: [expect.objectContaining({ path: 'choices.0.delta.tool_calls.0.index' })] } });
    });

    it('maps an error event inside the stream to provider.unavailable', async () => {
      server.enqueue({ type: 'malformed', body: 'data: {"error":{"message":"overloaded","code":"server_busy"}}\n\n' });
      const error = await failure(() => collect(provider.stream(ask)));
      expect(error).toMatchObject({ code: 'provider.unavailable', details: { providerCode: 'server_busy' } });
    });

    it('maps an abort in the middle of the stream to provider.cancelled', async () => {
      server.enqueue(textReply('one two three four five six', { chunkDelayMs: 50 }));
      const controller = new AbortController();
      const seen: ModelStreamEvent[] = [];
      const error = await failure(async () => {
        for await (const event of provider.stream(ask, { signal: controller.signal })) {
          seen.push(event);
          controller.abort();
        }
      });
      expect(error.code).toBe('provider.cancelled');
      expect(seen.some((event) => event.type === 'response')).toBe(false);
    });
  });

  describe('retries', () => {
    it('retries a 429 after its retry-after and succeeds on the second request', async () => {
      const before = server.completionRequests().length;
      server.enqueue(errorReply(429, { retryAfterSeconds: 0 }), textReply('after the wait'));
      const response = await providerWith({ maxRetries: 2 }).complete(ask);
      expect(response.content).toBe('after the wait');
      expect(server.completionRequests().length - before).toBe(2);
    });

    it('waits the retry-after a 429 asks for before it retries', async () => {
      const arrivals: number[] = [];
      server.setHandler(() => {
        arrivals.push(Date.now());
        return arrivals.length === 1 ? errorReply(429, { retryAfterSeconds: 1 }) : textReply('after a second');
      });
      const response = await providerWith({ maxRetries: 1 }).complete(ask);
      expect(response.content).toBe('after a second');
      expect(arrivals).toHaveLength(2);
      const [first = 0, second = 0] = arrivals;
      // A lower bound the client must wait (its own backoff is at most 0.5 s), so a slow machine cannot make this fail.
      expect(second - first).toBeGreaterThanOrEqual(900);
    });

    it('makes at most 3 attempts when no retries are set: the first and 2 retries', async () => {
      let attempts = 0;
      server.setHandler(() => {
        attempts += 1;
        return errorReply(500, { retryAfterSeconds: 0 });
      });
      const error = await failure(() => createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model' }).complete(ask));
      expect(error.code).toBe('provider.unavailable');
      expect(attempts).toBe(3);
    });

    it('retries a 500 and succeeds', async () => {
      const before = server.completionRequests().length;
      server.enqueue(errorReply(500, { retryAfterSeconds: 0 }), textReply('recovered'));
      const response = await providerWith({ maxRetries: 2 }).complete(ask);
      expect(response.content).toBe('recovered');
      expect(server.completionRequests().length - before).toBe(2);
    });

    it('retries a streamed call that failed before it started', async () => {
      server.enqueue(errorReply(503, { retryAfterSeconds: 0 }), textReply('streamed'));
      const events = await collect(providerWith({ maxRetries: 1 }).stream(ask));
      expect(events.at(-1)).toMatchObject({ type: 'response', response: { content: 'streamed' } });
    });

    it('ends as provider.rate_limited when every attempt is rate limited', async () => {
      const before = server.completionRequests().length;
      const limited = () => errorReply(429, { retryAfterSeconds: 0 });
      server.enqueue(limited(), limited(), limited());
      const error = await failure(() => providerWith({ maxRetries: 2 }).complete(ask));
      expect(error).toMatchObject({ code: 'provider.rate_limited', details: { status: 429, retryAfterSeconds: 0 } });
      expect(server.completionRequests().length - before).toBe(3);
    });

    it('does not retry a 400', async () => {
      const before = server.completionRequests().length;
      server.enqueue(errorReply(400));
      expect((await failure(() => providerWith({ maxRetries: 2 }).complete(ask))).code).toBe('provider.bad_request');
      expect(server.completionRequests().length - before).toBe(1);
    });
  });
});
