import { z } from 'zod';
import type { FetchHandler } from './handler';

/** The most items one `json_items` configuration may hold. */
export const maxJsonItems = 1000;

/**
 * The configuration of `json_items`: the items themselves (JSON objects) and
 * the field that is each one's source key. Every item must have that field as
 * a non-empty string or a number, checked on write with the item's path.
 */
export const jsonItemsConfigSchema = z
  .strictObject({
    items: z.array(z.record(z.string(), z.unknown())).max(maxJsonItems),
    keyField: z.string().min(1).max(200).default('id'),
  })
  .superRefine((config, issues) => {
    config.items.forEach((item, index) => {
      const key = item[config.keyField];
      if ((typeof key === 'string' && key.length > 0) || (typeof key === 'number' && Number.isFinite(key))) return;
      issues.addIssue({ code: 'custom', path: ['items', index, config.keyField], message: `each item needs "${config.keyField}" as a non-empty string or a number` });
    });
  });
export type JsonItemsConfig = z.infer<typeof jsonItemsConfigSchema>;

/**
 * A fetch handler that yields the items of a JSON array in its configuration,
 * each keyed by its `keyField`. It proves the engine without a network: the
 * items can come from the flow, or from a config-patch queue entry per run.
 */
export const jsonItemsHandler: FetchHandler<JsonItemsConfig> = {
  kind: 'fetch',
  slug: 'json_items',
  description: 'Items from a JSON array in the configuration, keyed by one field.',
  configSchema: jsonItemsConfigSchema,
  async fetch(config) {
    return config.items.map((item) => ({ sourceKey: String(item[config.keyField]), data: item }));
  },
};
