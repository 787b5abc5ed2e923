import { randomUUID } from 'node:crypto';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { createMessage } from '../messages/message';
import { createOpenAIProvider } from '../providers/openai-provider';
import { defineTool } from '../tools/define-tool';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import type { SessionOwner, TranscriptStore } from '../transcripts/transcript-store';
import type { ConversationRunner } from './conversation-runner';
import { createToolLoopRunner } from './tool-loop-runner';

const principal = testPrincipal();

// Postgres text and jsonb cannot hold U+0000: the loop replaces it in what the
// run produces, so a model or a tool that emits one never fails the run.
await describeEachDatabase<AgentsApiDatabase>('a NUL character in run output', (context) => {
  let server: ModelServer;
  let store: TranscriptStore;
  let owner: SessionOwner;
  let sessionId: string;
  let runner: ConversationRunner;

  beforeAll(async () => {
    await migrateAgentsApi(context.db);
    server = await startModelServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(async () => {
    server.reset();
    store = createPostgresTranscriptStore({ db: context.db });
    owner = { userId: 'user-1', tenantId: `nul-${randomUUID()}` };
    sessionId = (await store.createSession(owner, { agentSlug: 'helper' })).id;
    runner = createToolLoopRunner({
      provider: createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 }),
      persister: {
        persist: async (messages) => {
          await store.append(owner, sessionId, messages);
        },
      },
    });
  });

  const run = (tools = [echo]) =>
    runner.run({ messages: [createMessage({ type: 'text', role: 'user', content: 'Go', payload: {} })], tools, principal });
  const echo = defineTool({ name: 'echo', description: 'Answers with a NUL', input: z.object({}), execute: () => 'left\u0000right' });

  it("completes when the model's reply holds a NUL, storing it as U+FFFD and saying so", async () => {
    server.enqueue(textReply('before\u0000after'));
    const result = await run();
    expect(result).toMatchObject({ status: 'completed', finalContent: 'before\uFFFDafter' });
    const stored = (await store.loadMessages(owner, sessionId)).map((entry) => entry.message);
    expect(stored).toEqual([expect.objectContaining({ type: 'text', content: 'before\uFFFDafter', payload: expect.objectContaining({ nulReplaced: true }) })]);
  });

  it("completes when a tool's result holds a NUL, storing and sending it as U+FFFD", async () => {
    server.enqueue(toolCallReply({ id: 'call_1', name: 'echo', arguments: {} }), textReply('done'));
    const result = await run();
    expect(result.status).toBe('completed');
    const stored = (await store.loadMessages(owner, sessionId)).map((entry) => entry.message);
    expect(stored.find((message) => message.type === 'tool_result')).toMatchObject({
      content: 'left\uFFFDright',
      payload: { toolCallId: 'call_1', isError: false, nulReplaced: true },
    });
    expect(server.completionRequests().at(-1)?.messages.at(-1)).toMatchObject({ role: 'tool', content: 'left\uFFFDright' });
  });

  it('leaves output without a NUL exactly as it was, with no mark', async () => {
    server.enqueue(textReply('plain'));
    await run();
    const stored = (await store.loadMessages(owner, sessionId)).map((entry) => entry.message);
    expect(stored).toEqual([expect.objectContaining({ content: 'plain', payload: expect.not.objectContaining({ nulReplaced: expect.anything() }) })]);
  });
});
