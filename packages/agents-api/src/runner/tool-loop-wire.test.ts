import { errorReply, startModelServer, textReply, toolCallReply, type ModelReply, type ModelServer, type ScriptedUsage } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import { createMessage, type AgentMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { createSessionRunner } from '../sessions/session-runner';
import { defineTool } from '../tools/define-tool';
import { createInMemoryTranscriptStore } from '../transcripts/in-memory-transcript-store';
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

/** The model calls `weather` for Paris and reports `usage` (`null`: reports none). */
const weatherCall = (usage: ScriptedUsage | null): ModelReply => ({
  type: 'message',
  content: null,
  toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }],
  usage,
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

  describe('usage', () => {
    it('records each turn\'s usage, model and finish reason on its assistant message, and the sum on the result', async () => {
      server.enqueue(
        weatherCall({ promptTokens: 100, completionTokens: 10, cachedPromptTokens: 80 }),
        textReply('Sunny in Paris.', { usage: { promptTokens: 130, completionTokens: 5, reasoningTokens: 2 } }),
      );
      const result = await runnerWith().run(request());
      const [call, , answer] = result.messages;
      expect(call).toMatchObject({
        type: 'tool_call',
        payload: { usage: { inputTokens: 100, outputTokens: 10, totalTokens: 110, cachedInputTokens: 80 }, model: 'test-model', finishReason: 'tool_calls' },
      });
      expect(answer).toMatchObject({
        type: 'text',
        payload: { usage: { inputTokens: 130, outputTokens: 5, totalTokens: 135, reasoningTokens: 2 }, model: 'test-model', finishReason: 'stop' },
      });
      expect(result.usage).toStrictEqual({ inputTokens: 230, outputTokens: 15, totalTokens: 245, cachedInputTokens: 80, reasoningTokens: 2 });
    });

    it('keeps usage a model never reported absent, rather than zero', async () => {
      server.enqueue(textReply('Sunny.', { usage: null }));
      const result = await runnerWith().run(request());
      expect(result.usage).toStrictEqual({});
      expect(result.messages[0]?.payload).toMatchObject({ usage: {} });
    });

    it('counts reported tokens against the token budget', async () => {
      server.enqueue(weatherCall({ promptTokens: 900, completionTokens: 200 }));
      const result = await runnerWith().run(request({ limits: { maxTokens: 1_000 } }));
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'tokens', turns: 1 });
    });

    it('does not end a run on the token budget when the model reports no usage', async () => {
      server.enqueue(weatherCall(null), textReply('Sunny.', { usage: null }));
      const result = await runnerWith().run(request({ limits: { maxTokens: 1 } }));
      expect(result).toMatchObject({ status: 'completed', turns: 2 });
    });
  });

  describe('request fields', () => {
    it('passes output limit, tool choice, response format, stop, temperature and top_p to every model call', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('{"sky":"sunny"}'));
      const schema = { type: 'object', properties: { sky: { type: 'string' } }, required: ['sky'], additionalProperties: false };
      await runnerWith().run(
        request({
          maxOutputTokens: 64,
          toolChoice: { name: 'weather' },
          responseFormat: { type: 'json_schema', name: 'forecast', schema, strict: true },
          stop: 'END',
          temperature: 0.1,
          topP: 0.5,
        }),
      );
      const bodies = server.completionRequests().map((received) => received.body);
      expect(bodies).toHaveLength(2);
      for (const body of bodies) {
        expect(body).toMatchObject({
          max_completion_tokens: 64,
          tool_choice: { type: 'function', function: { name: 'weather' } },
          response_format: { type: 'json_schema', json_schema: { name: 'forecast', schema, strict: true } },
          stop: 'END',
          temperature: 0.1,
          top_p: 0.5,
        });
      }
    });

    it('sends none of them when the request sets none', async () => {
      server.enqueue(textReply('Sunny.'));
      await runnerWith().run(request());
      expect(Object.keys(server.completionRequests()[0]?.body ?? {}).sort()).toEqual(['messages', 'model', 'tools']);
    });

    it('refuses a tool choice that names no tool of the run', async () => {
      await expect(runnerWith().run(request({ toolChoice: { name: 'forecast' } }))).rejects.toMatchObject({ code: 'runner.invalid_request' });
    });
  });

  describe('client-side tools', () => {
    const pickFile = defineTool({
      name: 'pick_file',
      description: 'Lets the user pick a file on their device',
      input: z.object({ kind: z.string() }),
      clientSide: true,
      execute: () => {
        throw new Error('a client-side tool never runs on the server');
      },
    });

    it('offers client-side tools to the model', async () => {
      server.enqueue(textReply('ok'));
      await runnerWith().run(request({ tools: [weather, pickFile] }));
      const offered = server.completionRequests()[0]?.tools as { function: { name: string } }[];
      expect(offered.map((tool) => tool.function.name)).toEqual(['weather', 'pick_file']);
    });

    it('ends the run with the pending calls in OpenAI\'s shape when the model calls one, and records the call', async () => {
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }));
      const result = await runnerWith().run(request({ tools: [weather, pickFile] }));
      expect(result).toMatchObject({
        status: 'tool_calls_required',
        pendingToolCalls: [{ id: 'call_pick', type: 'function', function: { name: 'pick_file', arguments: '{"kind":"pdf"}' } }],
        toolExecutions: [],
      });
      expect(result.messages.map((message) => message.type)).toEqual(['tool_call']);
      expect(server.completionRequests()).toHaveLength(1);
    });

    it('runs the server-side calls of the same step first, and leaves only the client-side ones pending', async () => {
      server.enqueue(
        toolCallReply({ id: 'call_w', name: 'weather', arguments: { city: 'Paris' } }, { id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }),
      );
      const result = await runnerWith().run(request({ tools: [weather, pickFile] }));
      expect(result).toMatchObject({
        status: 'tool_calls_required',
        pendingToolCalls: [{ id: 'call_pick' }],
        toolExecutions: [{ toolCallId: 'call_w', outcome: 'success', content: 'Sunny in Paris' }],
      });
      expect(result.messages.map((message) => message.type)).toEqual(['tool_call', 'tool_result']);
    });

    it('continues in a later run that brings the client\'s results', async () => {
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }));
      const first = await runnerWith().run(request({ tools: [weather, pickFile] }));
      const clientResult = createMessage({
        type: 'tool_result',
        role: 'tool',
        content: 'report.pdf',
        payload: { toolCallId: 'call_pick', toolName: 'pick_file', isError: false },
      });
      server.enqueue(textReply('You picked report.pdf.'));
      const second = await runnerWith().run(request({ tools: [weather, pickFile], messages: [...request().messages, ...first.messages, clientResult] }));
      expect(second).toMatchObject({ status: 'completed', finalContent: 'You picked report.pdf.' });
      expect(server.completionRequests()[1]?.messages.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_pick', content: 'report.pdf' });
    });

    it('tells the model when a later run brings no result for a client-side call', async () => {
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }));
      const first = await runnerWith().run(request({ tools: [weather, pickFile] }));
      server.enqueue(textReply('No file then.'));
      const second = await runnerWith().run(request({ tools: [weather, pickFile], messages: [...request().messages, ...first.messages, userSays('Never mind.')] }));
      expect(second.status).toBe('completed');
      expect(second.toolExecutions).toMatchObject([{ toolCallId: 'call_pick', outcome: 'error', content: expect.stringContaining('the client sent no result') }]);
    });

    it('hands a held client-side call to the client once a later run approves it', async () => {
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }));
      const mediator = { mediate: () => ({ action: 'hold', reason: 'ask first' }) as const };
      const first = await runnerWith({ mediator }).run(request({ tools: [weather, pickFile] }));
      expect(first.status).toBe('approval_required');
      const second = await runnerWith({ mediator }).run(
        request({ tools: [weather, pickFile], messages: [...request().messages, ...first.messages], approvals: [{ toolCallId: 'call_pick', approved: true }] }),
      );
      expect(second).toMatchObject({ status: 'tool_calls_required', pendingToolCalls: [{ id: 'call_pick', type: 'function' }], turns: 0 });
    });

    it('stores the pending call in a durable session, which a resume with the client\'s result continues', async () => {
      // The in-memory store, declared durable: this test never restarts the process, and resume only runs on a durable store.
      const store = { ...createInMemoryTranscriptStore(), durable: true };
      const sessions = createSessionRunner({ store, createRunner: (persister) => runnerWith({ persister }) });
      // No tenant, as the test principal has none: a session runner may check that the owner is the principal's.
      const owner = { userId: principal.userId, tenantId: null };
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }));
      const started = await sessions.start({ owner, session: { agentSlug: principal.agentSlug }, input: [userSays('Summarise a file')], principal, tools: [pickFile] });
      expect(started.result.status).toBe('tool_calls_required');
      const clientResult = createMessage({
        type: 'tool_result',
        role: 'tool',
        content: 'report.pdf',
        payload: { toolCallId: 'call_pick', toolName: 'pick_file', isError: false },
      });
      server.enqueue(textReply('Summary of report.pdf.'));
      const resumed = await sessions.resume({ owner, sessionId: started.session.id, input: [clientResult], principal, tools: [pickFile] });
      expect(resumed.result).toMatchObject({ status: 'completed', finalContent: 'Summary of report.pdf.' });
      expect(server.completionRequests()[1]?.messages.slice(-2)).toEqual([
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_pick', type: 'function', function: { name: 'pick_file', arguments: '{"kind":"pdf"}' } }] },
        { role: 'tool', tool_call_id: 'call_pick', content: 'report.pdf' },
      ]);
    });

    it('lets the mediator reject a client-side call like any other', async () => {
      server.enqueue(toolCallReply({ id: 'call_pick', name: 'pick_file', arguments: { kind: 'pdf' } }), textReply('Cannot pick files.'));
      const mediator = { mediate: () => ({ action: 'reject', reason: 'no files today' }) as const };
      const result = await runnerWith({ mediator }).run(request({ tools: [weather, pickFile] }));
      expect(result).toMatchObject({ status: 'completed', toolExecutions: [{ toolCallId: 'call_pick', outcome: 'rejected' }] });
    });
  });
});
