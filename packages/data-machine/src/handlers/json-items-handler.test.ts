import { describe, expect, it } from 'vitest';
import { handlerCall } from '../../test/support/handler-fixture';
import { jsonItemsConfigSchema, jsonItemsHandler } from './json-items-handler';

const call = handlerCall({ stepKey: 'fetch' });

describe('json_items fetch handler', () => {
  it('yields each item keyed by its key field, numbers as strings', async () => {
    const config = jsonItemsConfigSchema.parse({ items: [{ id: 'a', title: 'A' }, { id: 7, title: 'B' }] });
    expect(await jsonItemsHandler.fetch(config, call)).toEqual([
      { sourceKey: 'a', data: { id: 'a', title: 'A' } },
      { sourceKey: '7', data: { id: 7, title: 'B' } },
    ]);
  });

  it('keys on a configured field', async () => {
    const config = jsonItemsConfigSchema.parse({ keyField: 'url', items: [{ url: 'https://example.test/1' }] });
    expect((await jsonItemsHandler.fetch(config, call)).map((item) => item.sourceKey)).toEqual(['https://example.test/1']);
  });

  it('yields nothing for an empty array', async () => {
    expect(await jsonItemsHandler.fetch(jsonItemsConfigSchema.parse({ items: [] }), call)).toEqual([]);
  });

  it('refuses, by path, an item without a usable key', () => {
    const parsed = jsonItemsConfigSchema.safeParse({ items: [{ id: 'a' }, { title: 'no id' }, { id: '' }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['items.1.id', 'items.2.id']);
  });

  it('refuses unknown configuration fields and items that are not objects', () => {
    expect(jsonItemsConfigSchema.safeParse({ items: [], extra: true }).success).toBe(false);
    expect(jsonItemsConfigSchema.safeParse({ items: ['a'] }).success).toBe(false);
  });
});
