import { errorReply, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import { createMessage, type AgentMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { defineTool } from '../tools/define-tool';
import type { ConversationRequest } from './conversation-runner';
import { createToolLoopRunner, type ToolLoopRunnerOptions } from './tool-loop-runner';

// The parts of a run the OpenAI wire needs: failures a worker can act on, usage per turn,
// request fields passed through, client-side tools.

const principal = testPrincipal();
const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });
const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => `Sunny in ${city}`,
});

describe('tool loop runner on the OpenAI wire', () => {
  let server: ModelServer;
  let runnerWith: (options?: Omit<ToolLoopRunnerOptions, 'provider'>) => ReturnType<typeof createToolLoopRunner>;
  const request = (overrides: Partial<ConversationRequest> = {}): ConversationRequest => ({
    messages: [userSays('What is the weather in Paris?')],
    tools: [weather],
    principal,
    ...overrides,
  });

  beforeAll(async () => {
    server = await startModelServer();
    const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    runnerWith = (options = {}) => createToolLoopRunner({ provider, ...options });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
  });

  describe('failures', () => {
    it('marks a failure the same request may get past later as retryable', async () => {
      server.enqueue(errorReply(503));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'provider.unavailable', retryable: true } });
    });

    it('marks a failure that would repeat as not retryable', async () => {
      server.enqueue(errorReply(400));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'provider.bad_request', retryable: false } });
    });

    it('marks a failed transcript write as retryable', async () => {
      server.enqueue(textReply('Sunny.'));
      const persister = { persist: () => Promise.reject(new Error('database gone')) };
      const result = await runnerWith({ persister }).run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'runner.persist_failed', retryable: true } });
    });

    it('marks a seam that threw something unknown as not retryable', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }));
      const mediator = {
        mediate: () => {
          throw new Error('mediator bug');
        },
      };
      const result = await runnerWith({ mediator }).run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'runner.seam_failed', retryable: false } });
    });
  });
});
