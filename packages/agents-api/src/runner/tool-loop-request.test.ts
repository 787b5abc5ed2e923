import { startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentsApiError } from '../errors';
import { createMessage } from '../messages/message';
import { createPrincipal } from '../permissions/caller-chain';
import { createOpenAIProvider } from '../providers/openai-provider';
import type { ConversationEvent } from './conversation-runner';
import { createToolLoopRunner, type ToolLoopRunner } from './tool-loop-runner';

describe('a tool loop request with plain string input', () => {
  let server: ModelServer;
  let runner: ToolLoopRunner;
  const principal = createPrincipal({ userId: 'user-1', agentSlug: 'helper' });

  beforeAll(async () => {
    server = await startModelServer();
    runner = createToolLoopRunner({
      provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 }),
    });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
  });

  it('sends the string to the model as one user message', async () => {
    server.enqueue(textReply('Hello.'));
    const result = await runner.run({ input: 'Hi there', principal });
    expect(result).toMatchObject({ status: 'completed', finalContent: 'Hello.' });
    expect(server.completionRequests().at(-1)?.messages).toEqual([{ role: 'user', content: 'Hi there' }]);
  });

  it('streams a run started from plain string input', async () => {
    server.enqueue(textReply('Hello.'));
    const events: ConversationEvent[] = [];
    for await (const event of runner.stream({ input: 'Hi there', principal })) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'run_end', result: { status: 'completed', finalContent: 'Hello.' } });
    expect(server.completionRequests().at(-1)?.messages).toEqual([{ role: 'user', content: 'Hi there' }]);
  });

  it('runs the same as the messages form', async () => {
    server.enqueue(textReply('Same.'), textReply('Same.'));
    const fromInput = await runner.run({ input: 'Hi', principal });
    const fromMessages = await runner.run({ messages: [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })], principal });
    expect(fromInput.finalContent).toBe(fromMessages.finalContent);
    const [first, second] = server.completionRequests();
    expect(first?.messages).toEqual(second?.messages);
  });

  it('refuses a request with both input and messages', async () => {
    const messages = [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })];
    // @ts-expect-error a request has input or messages, never both
    const error = await runner.run({ input: 'Hi', messages, principal }).catch((caught: unknown) => caught);
    expect(AgentsApiError.isInstance(error) && error.code).toBe('runner.invalid_request');
    expect(server.completionRequests()).toHaveLength(0);
  });

  it('refuses input that is not a string', async () => {
    // @ts-expect-error input is a string
    const error = await runner.run({ input: 42, principal }).catch((caught: unknown) => caught);
    expect(AgentsApiError.isInstance(error) && error.code).toBe('runner.invalid_request');
  });
});
