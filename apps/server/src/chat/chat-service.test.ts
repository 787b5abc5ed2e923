import { createMessage, type MemoryStore, type TranscriptStore } from '@data-machine/agents-api';
import { createPostgresMemoryStore, createPostgresTranscriptStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { createDataMachineContext, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantWorld } from '../../test/support/http-world';
import { createChatModelProvider } from './chat-model-provider';
import { createChatService, type ChatTurn } from './chat-service';

await describeEachDatabase<DataMachineDatabase>('chat service', (database) => {
  let model: ModelServer;
  let context: DataMachineContext;
  beforeAll(async () => {
    model = await startModelServer();
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
  });
  afterAll(async () => {
    await model.close();
  });

  const message = (content: string) => createMessage({ type: 'text', role: 'user', content, payload: {} });
  async function ended(turn: ChatTurn) {
    for await (const _event of turn.stream) {
      // Read to the end: the run goes on only as its stream is read.
    }
    return (await turn.settled).result.status;
  }

  // Two turns, each a model round trip and several statements: more than the default 5 s on a busy machine.
  describe('a continued session', { timeout: 30_000 }, () => {
    it("starts reading the agent's memory files before it looks the session up, so the two run together", async () => {
      const tenant = await tenantWorld(context, 'chat-service-memory');
      const db = database.db as unknown as Kysely<AgentsApiDatabase>;
      const transcripts = createPostgresTranscriptStore({ db });
      const files = createPostgresMemoryStore({ db });
      // Each memory read tells when it starts; a session's look-up waits for the turn's, with a deadline.
      let memoryStarted: () => void = () => undefined;
      let memoryRead = Promise.resolve();
      const store: TranscriptStore = Object.assign(Object.create(transcripts) as TranscriptStore, {
        getSession: async (...args: Parameters<TranscriptStore['getSession']>) => {
          await Promise.race([memoryRead, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('the memory read had not started')), 10_000).unref())]);
          return transcripts.getSession(...args);
        },
      });
      const memory: MemoryStore = Object.assign(Object.create(files) as MemoryStore, {
        readMany: (...args: Parameters<NonNullable<MemoryStore['readMany']>>) => {
          memoryStarted();
          return files.readMany!(...args);
        },
      });
      const chat = createChatModelProvider({ baseUrl: model.baseURL, apiKey: 'test-key', defaultModel: 'test-model', maxRetries: 0 });
      const service = createChatService({ context, store, model: chat, memory });
      model.enqueue(textReply('First.'), textReply('Second.'));
      const first = await service.openTurn(tenant.ownerScope, 'default', { input: [message('One?')] });
      expect(await ended(first)).toBe('completed');
      memoryRead = new Promise<void>((resolve) => (memoryStarted = resolve));
      const second = await service.openTurn(tenant.ownerScope, 'default', { sessionId: first.stream.session.id, input: [message('Two?')] });
      expect(await ended(second)).toBe('completed');
    });
  });
});
