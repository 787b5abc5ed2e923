import type { SessionRunResult } from '@data-machine/agents-api';
import { startModelServer, type DatabaseSuiteContext, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { createChatModelProvider } from '../../src/chat/chat-model-provider';
import type { ChangeFeedRecorder } from './change-feed-recorder';
import { startApp } from './http-world';

/** The app with chat on the testkit's local model server, and the ends of its turns as they come. */
export interface ChatWorld {
  readonly app: FastifyInstance;
  readonly context: DataMachineContext;
  readonly model: ModelServer;
  /** The events of the app's change feed listener (none without `changeFedCaches`). */
  readonly changes: ChangeFeedRecorder;
  /** Resolves with the outcome of the next turn to end after the call. */
  nextTurnEnd(): Promise<SessionRunResult>;
  close(): Promise<void>;
}

/** Starts the model server and the app whose chat runs on it (retries off, so a scripted error is one request). */
export async function startChatWorld(database: DatabaseSuiteContext<DataMachineDatabase>, options: { readonly changeFedCaches?: boolean } = {}): Promise<ChatWorld> {
  const model = await startModelServer();
  const waiting: ((outcome: SessionRunResult) => void)[] = [];
  const chat = createChatModelProvider({ baseUrl: model.baseURL, apiKey: 'test-key', defaultModel: 'test-model', maxRetries: 0 });
  const { app, context, changes } = await startApp(database, {
    chat: {
      ...chat,
      onTurnEnd: ({ outcome }) => waiting.shift()?.(outcome),
    },
    ...(options.changeFedCaches === true ? { changeFedCaches: true } : {}),
  });
  return {
    app,
    context,
    model,
    changes,
    nextTurnEnd: () => new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      await app.close();
      await model.close();
    },
  };
}

/**
 * A suite's chat world: started before its tests, closed after them, the
 * model server's script and requests forgotten before each test. Read its
 * fields inside hooks and tests.
 */
export function useChatWorld(database: DatabaseSuiteContext<DataMachineDatabase>, options: { readonly changeFedCaches?: boolean } = {}): ChatWorld {
  let world: ChatWorld | undefined;
  const started = (): ChatWorld => {
    if (!world) throw new Error('the chat world is read before the suite started it');
    return world;
  };
  beforeAll(async () => {
    world = await startChatWorld(database, options);
  });
  afterAll(async () => {
    await world?.close();
  });
  beforeEach(() => {
    world?.model.reset();
  });
  return {
    get app() {
      return started().app;
    },
    get context() {
      return started().context;
    },
    get model() {
      return started().model;
    },
    get changes() {
      return started().changes;
    },
    nextTurnEnd: () => started().nextTurnEnd(),
    close: () => started().close(),
  };
}

/** One server-sent event as a client reads it. */
export interface ReadEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

/** The events of an event-stream body. */
export function parseEventStream(body: string): ReadEvent[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const fields = block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)] as const);
      const field = (name: string) => fields.find(([key]) => key === name)?.[1];
      return { id: field('id'), event: field('event'), data: fields.filter(([key]) => key === 'data').map(([, value]) => value).join('\n') };
    });
}
