import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorReply, textReply, toolCallReply } from './model-reply';
import { startModelServer, type ModelServer } from './model-server';

describe('model server', () => {
  let server: ModelServer;
  let client: OpenAI;

  beforeAll(async () => {
    server = await startModelServer({ models: ['test-model', 'other-model'] });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
    client = new OpenAI({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 0 });
  });

  it('answers a non-streaming completion through the real openai client', async () => {
    server.enqueue(textReply('Hello there.', { usage: { promptTokens: 7, completionTokens: 3 } }));
    const completion = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'Hi' }] });
    expect(completion.choices[0]?.message.content).toBe('Hello there.');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  });

  it('forgets queued replies, received requests and the handler on reset', async () => {
    server.enqueue(textReply('left over'));
    server.setHandler(() => textReply('from the handler'));
    await client.models.list();
    expect(server.pendingReplies()).toBe(1);
    server.reset();
    expect(server.pendingReplies()).toBe(0);
    expect(server.requests).toHaveLength(0);
    await expect(client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'Hi' }] })).rejects.toMatchObject({ status: 500 });
  });

  it('streams a completion as server-sent events, with usage when asked', async () => {
    server.enqueue(textReply('one two three'));
    const stream = await client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'count' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) deltas.push(delta);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas).toEqual(['one ', 'two ', 'three']);
    expect(usage?.total_tokens).toBeGreaterThan(0);
  });

  it('reports cached and reasoning tokens when scripted, and no usage at all for null', async () => {
    server.enqueue(
      textReply('ok', { usage: { promptTokens: 10, completionTokens: 4, cachedPromptTokens: 6, reasoningTokens: 3 } }),
      textReply('ok', { usage: null }),
    );
    const detailed = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(detailed.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 4,
      total_tokens: 14,
      prompt_tokens_details: { cached_tokens: 6 },
      completion_tokens_details: { reasoning_tokens: 3 },
    });
    const none = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(none).not.toHaveProperty('usage');
  });

  it('returns parallel tool calls, with unique ids, in both modes', async () => {
    const calls = [
      { name: 'lookup', arguments: { query: 'weather in Paris' } },
      { name: 'lookup', arguments: { query: 'weather in Rome' } },
    ];
    server.enqueue(toolCallReply(...calls), toolCallReply(...calls));
    const plain = await client.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'go' }] });
    const plainCalls = plain.choices[0]?.message.tool_calls ?? [];
    expect(plain.choices[0]?.finish_reason).toBe('tool_calls');

    const runner = client.chat.completions.stream({ model: 'test-model', messages: [{ role: 'user', content: 'go' }] });
    const streamed = await runner.finalChatCompletion();
    const streamedCalls = streamed.choices[0]?.message.tool_calls ?? [];

    for (const received of [plainCalls, streamedCalls]) {
      expect(received.map((call) => call.type === 'function' && JSON.parse(call.function.arguments))).toEqual([
        { query: 'weather in Paris' },
        { query: 'weather in Rome' },
      ]);
    }
    const ids = [...plainCalls, ...streamedCalls].map((call) => call.id);
    expect(new Set(ids).size).toBe(4);
  });

  it('lets a function of the request answer, and records what it received', async () => {
    server.setHandler((request) => textReply(`you said ${String(request.messages.at(-1)?.content)}`));
    const completion = await client.chat.completions.create({
      model: 'other-model',
      messages: [{ role: 'user', content: 'ping' }],
      tools: [{ type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } }],
    });
    expect(completion.choices[0]?.message.content).toBe('you said ping');
    const received = server.completionRequests().at(-1);
    expect(received?.model).toBe('other-model');
    expect(received?.tools).toHaveLength(1);
    expect(server.requests.at(-1)?.headers.authorization).toBe('Bearer test-key');
  });

  it('keeps connections alive with no idle timeout, so only the client ever closes one', async () => {
    // A server-side timeout races a client reusing the connection as it fires; a client without retries then fails.
    const response = await fetch(`${server.baseURL}/models`);
    await response.arrayBuffer();
    expect(response.headers.get('connection')).toBe('keep-alive');
    expect(response.headers.get('keep-alive')).toBeNull();
  });

  it('lists its models', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(['test-model', 'other-model']);
  });

  it('injects a 429 with retry-after, which the client honours and retries', async () => {
    server.enqueue(errorReply(429, { retryAfterSeconds: 0, message: 'slow down' }), textReply('after the wait'));
    const retrying = new OpenAI({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 1 });
    const before = server.completionRequests().length;
    const completion = await retrying.chat.completions.create({ model: 'test-model', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0]?.message.content).toBe('after the wait');
    expect(server.completionRequests().length - before).toBe(2);
  });

  it('injects a 429 the client sees as a rate limit error with the header', async () => {
    server.enqueue(errorReply(429, { retryAfterSeconds: 30 }));
    const error = await client.chat.completions.create({ model: 'test-model', messages: [] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('30');
  });

  it('injects a 500', async () => {
    server.enqueue(errorReply(500, { message: 'boom' }));
    const error = await client.chat.completions.create({ model: 'test-model', messages: [] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as Error).message).toContain('boom');
  });

  it('injects a malformed body the client cannot parse', async () => {
    server.enqueue({ type: 'malformed' });
    await expect(client.chat.completions.create({ model: 'test-model', messages: [] })).rejects.toThrow(SyntaxError);
  });

  it('injects a slow response that trips the client timeout', async () => {
    server.enqueue(textReply('too late', { delayMs: 5_000 }));
    const impatient = new OpenAI({ baseURL: server.baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 100 });
    await expect(impatient.chat.completions.create({ model: 'test-model', messages: [] })).rejects.toBeInstanceOf(
      OpenAI.APIConnectionTimeoutError,
    );
  });

  it('answers an unscripted request with a clear 500 instead of inventing a reply', async () => {
    const error = await client.chat.completions.create({ model: 'test-model', messages: [] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as Error).message).toContain('no reply scripted');
  });
});
