import { startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import { createMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { defineTool } from '../tools/define-tool';
import type { ToolExecutionContext } from '../tools/tool';
import type { ConversationEvent, ConversationRequest, ConversationRunner } from './conversation-runner';
import { truncate } from './tool-execution';
import { createToolLoopRunner } from './tool-loop-runner';

const principal = testPrincipal();

describe('tool results', () => {
  let server: ModelServer;
  let runner: ConversationRunner;

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

  /** One run in which the model calls `tool` once, then answers; `done` counts the tool's side effects. */
  async function runOnce(execute: () => unknown, overrides: Partial<ConversationRequest> = {}) {
    const effects = { done: 0 };
    const tool = defineTool({
      name: 'act',
      description: 'Does something, then answers',
      input: z.object({}),
      execute: () => {
        effects.done += 1;
        return execute();
      },
    });
    server.enqueue(toolCallReply({ id: 'call_1', name: 'act', arguments: {} }), textReply('noted'));
    const events: ConversationEvent[] = [];
    const request: ConversationRequest = {
      messages: [createMessage({ type: 'text', role: 'user', content: 'Go', payload: {} })],
      tools: [tool],
      principal,
      ...overrides,
    };
    for await (const event of runner.stream(request)) events.push(event);
    const end = events.at(-1);
    if (end?.type !== 'run_end') throw new Error('expected the stream to end with run_end');
    const sent = server.completionRequests().at(-1)?.messages.at(-1);
    return { result: end.result, events, effects, sent };
  }

  describe('a result that cannot be sent', () => {
    const unsendable: readonly [string, () => unknown][] = [
      ['a BigInt', () => ({ id: 10n })],
      [
        'a circular object',
        () => {
          const node: Record<string, unknown> = { name: 'loop' };
          node.self = node;
          return node;
        },
      ],
    ];

    it.each(unsendable)('answers %s with an error tool result saying the tool ran, and the run goes on', async (_what, execute) => {
      const { result, effects, sent } = await runOnce(execute);
      expect(effects.done).toBe(1);
      expect(result).toMatchObject({ status: 'completed', finalContent: 'noted' });
      expect(result.toolExecutions).toEqual([expect.objectContaining({ toolCallId: 'call_1', outcome: 'error' })]);
      expect(result.toolExecutions[0]?.content).toMatch(/^Error: "act" ran, but its result cannot be sent to the model: /);
      const recorded = result.messages.find((message) => message.type === 'tool_result');
      expect(recorded).toMatchObject({ payload: { toolCallId: 'call_1', isError: true } });
      expect(sent).toMatchObject({ role: 'tool', tool_call_id: 'call_1', content: result.toolExecutions[0]?.content });
    });

    it("never sends a function's source text to the model", async () => {
      const secret = 'sk-live-do-not-leak';
      const { result, sent } = await runOnce(() => () => secret);
      expect(result.status).toBe('completed');
      expect(result.toolExecutions[0]).toMatchObject({ outcome: 'error', content: expect.stringContaining('it is a function') });
      expect(JSON.stringify(server.completionRequests())).not.toContain(secret);
      expect(String(sent?.content)).not.toContain(secret);
    });
  });

  describe('truncation', () => {
    it('keeps a result within a limit too small for the note, and reports exactly what was cut', async () => {
      const { events, sent } = await runOnce(() => 'abcdefghijklmnopqrstuvwxyz0123', { limits: { maxToolResultChars: 10 } });
      expect(String(sent?.content)).toBe('abcdefghij');
      expect(events.find((event) => event.type === 'tool_result_truncated')).toMatchObject({ originalLength: 30, keptLength: 10 });
    });

    it('counts in the note exactly the characters it cut', async () => {
      const text = 'y'.repeat(100);
      const { sent } = await runOnce(() => text, { limits: { maxToolResultChars: 60 } });
      const content = String(sent?.content);
      const match = /^(y*)\n\[truncated (\d+) more characters\]$/.exec(content);
      expect(content.length).toBeLessThanOrEqual(60);
      expect(match).not.toBeNull();
      expect((match?.[1] ?? '').length + Number(match?.[2])).toBe(100);
    });

    it('never splits a surrogate pair', () => {
      expect(truncate('ab🌍cd', 3)).toBe('ab');
      expect(truncate(`${'🌍'.repeat(40)}`, 50)).toMatch(/^(🌍)*\n\[truncated \d+ more characters\]$/);
    });
  });

  describe('the context a tool gets', () => {
    it('has a signal that a spread copy keeps', async () => {
      let copied: Partial<ToolExecutionContext> = {};
      await runOnce(() => 'ok', {
        tools: [
          defineTool({
            name: 'act',
            description: 'Copies its context',
            input: z.object({}),
            execute: (_input, context) => {
              copied = { ...context };
              return 'copied';
            },
          }),
        ],
      });
      expect(copied.signal).toBeInstanceOf(AbortSignal);
      expect(copied.toolCallId).toBe('call_1');
    });
  });
});
