import { Kysely, PostgresDialect } from 'kysely';
import { createChatModelProvider } from '../chat/chat-model-provider';
import { defaultConsoleSessionPolicy } from 'data-machine';
import { buildApp } from './app';

/**
 * The OpenAPI document of every route (chat and the console's sign-in
 * included), rendered without a database: the app is built on one whose
 * connection is never opened. The web console generates its typed client from it.
 */
export async function renderOpenApiDocument(): Promise<unknown> {
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({
      pool: async () => {
        throw new Error('the OpenAPI document is rendered without a database');
      },
    }),
  });
  const app = buildApp({
    database: { backend: 'postgres', db, ping: async () => false, close: async () => undefined },
    chat: createChatModelProvider({ baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'unused', defaultModel: 'unused' }),
    console: { secretKey: 'unused'.repeat(8), secureCookies: false, policy: defaultConsoleSessionPolicy },
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
    await db.destroy();
  }
}
