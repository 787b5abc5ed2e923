import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDataMachineContext } from '../context';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createDefaultHandlerRegistry } from './built-in-handlers';

describe('default handler registry', () => {
  // Building the registry touches no database: handlers reach it only when called.
  const db = new Kysely<DataMachineDatabase>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (database) => new PostgresIntrospector(database),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  const context = createDataMachineContext({ db });

  it('holds every built-in handler by slug and kind, with the secret each needs', () => {
    const registry = createDefaultHandlerRegistry(context);
    expect(registry.list().map((handler) => [handler.slug, handler.kind, handler.secretName ?? null])).toEqual([
      ['files', 'fetch', null],
      ['http_json', 'fetch', 'api_token'],
      ['inbound_webhook', 'fetch', null],
      ['json_items', 'fetch', null],
      ['records', 'publish', null],
      ['rss', 'fetch', null],
      ['webhook', 'publish', 'webhook_secret'],
      ['wordpress', 'publish', 'wordpress_application_password'],
    ]);
  });

  it('stays open for a host handler', () => {
    const registry = createDefaultHandlerRegistry(context);
    registry.register({ kind: 'fetch', slug: 'host_items', description: 'A host handler.', configSchema: z.strictObject({}), fetch: async () => [] });
    expect(registry.list('fetch').map((handler) => handler.slug)).toEqual(['files', 'host_items', 'http_json', 'inbound_webhook', 'json_items', 'rss']);
  });
});
