import { startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { rejectionOf } from '../../test/support/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentsApiError } from '../errors';
import { completeOnce } from './complete-once';
import type { ModelProvider } from './model-provider';
import { createOpenAIProvider } from './openai-provider';

function failure(run: () => Promise<unknown>): Promise<AgentsApiError> {
  return rejectionOf(run());
}

describe('complete once', () => {
  let server: ModelServer;
  let provider: ModelProvider;

  beforeAll(async () => {
    server = await startModelServer();
    provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('returns the text, usage and model of the answer', async () => {
    server.enqueue(textReply('Nile, Amazon, Danube.', { usage: { promptTokens: 10, completionTokens: 6 } }));
    const result = await completeOnce(provider, { prompt: 'Name three rivers.' });
    expect(result).toEqual({ text: 'Nile, Amazon, Danube.', usage: { inputTokens: 10, outputTokens: 6, totalTokens: 16 }, model: 'test-model' });
  });

  it('passes a response format, stop sequences and top_p to the model', async () => {
    server.enqueue(textReply('{"rivers":["Nile"]}'));
    await completeOnce(provider, { prompt: 'Name a river as JSON.', responseFormat: { type: 'json_object' }, stop: ['\n\n'], topP: 0.3 });
    expect(server.completionRequests().at(-1)?.body).toMatchObject({ response_format: { type: 'json_object' }, stop: ['\n\n'], top_p: 0.3 });
  });

  it('sends the instructions as system and the prompt as the only user message', async () => {
    server.enqueue(textReply('ok'));
    await completeOnce(provider, { prompt: 'Name three rivers.', instructions: 'Answer in one line.' });
    expect(server.completionRequests().at(-1)?.messages).toEqual([
      { role: 'system', content: 'Answer in one line.' },
      { role: 'user', content: 'Name three rivers.' },
    ]);
  });

  it('sends no tools and the model asked for', async () => {
    server.enqueue(textReply('ok'));
    const result = await completeOnce(provider, { prompt: 'Hi', model: 'other-model', temperature: 0 });
    expect(server.completionRequests().at(-1)?.body).toMatchObject({ model: 'other-model', temperature: 0 });
    expect(server.completionRequests().at(-1)?.body).not.toHaveProperty('tools');
    expect(result.model).toBe('other-model');
  });

  it('fails with provider.bad_response when the answer has no text', async () => {
    server.enqueue(textReply(''));
    expect((await failure(() => completeOnce(provider, { prompt: 'Hi' }))).code).toBe('provider.bad_response');
  });

  it('fails with provider.bad_response when the model calls a tool instead of answering', async () => {
    server.enqueue(toolCallReply({ name: 'search', arguments: {} }));
    const error = await failure(() => completeOnce(provider, { prompt: 'Hi' }));
    expect(error).toMatchObject({ code: 'provider.bad_response', details: { finishReason: 'tool_calls', toolCalls: 1 } });
  });

  it('fails with provider.cancelled when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await failure(() => completeOnce(provider, { prompt: 'Hi', signal: controller.signal }))).code).toBe('provider.cancelled');
  });
});
