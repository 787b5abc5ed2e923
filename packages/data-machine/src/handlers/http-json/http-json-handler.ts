import { z } from 'zod';
import type { FetchedItem } from '../../steps/step';
import type { FetchHandler, HandlerContext } from '../handler';
import { HandlerError } from '../handler-error';
import { withCallHttp } from '../http/call-http';
import type { HandlerHttpClient } from '../http/handler-http-client';
import { throwForStatus } from '../http/throw-for-status';
import { jsonPointerSchema, resolveJsonPointer } from '../internal/json-pointer';
import { requireSecret } from '../internal/require-secret';

/** The configuration of `http_json`: the request, where the items are, how to key and map them, and how to page. */
export const httpJsonConfigSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(['GET', 'POST']).default('GET'),
    /** The JSON body of a POST; the cursor goes in it when `cursor.in` is `body`. */
    body: z.record(z.string(), z.unknown()).optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(1000)).default({}),
    /** `bearer` sends the flow's secret as `Authorization: Bearer <secret>`. */
    auth: z.enum(['none', 'bearer']).default('none'),
    /** Where the item array is in each response (`/data/items`); `""` when the response is the array. */
    itemsPointer: jsonPointerSchema.default(''),
    /** Where each item's source key is, inside the item. */
    keyPointer: jsonPointerSchema.default('/id'),
    /** Output field name -> pointer inside the item; without it each item is yielded whole. */
    fields: z.record(z.string().min(1).max(100), jsonPointerSchema).optional(),
    /** Cursor pagination: the next cursor's pointer in the response, and the parameter it is sent back as. */
    cursor: z
      .strictObject({
        pointer: jsonPointerSchema,
        param: z.string().min(1).max(100),
        in: z.enum(['query', 'body']).default('query'),
      })
      .optional(),
    /** The most pages read per run. */
    maxPages: z.int().min(1).max(50).default(5),
  })
  .refine((config) => config.method === 'POST' || config.body === undefined, { path: ['body'], message: 'a body needs method POST' })
  .refine((config) => config.cursor?.in !== 'body' || config.method === 'POST', { path: ['cursor', 'in'], message: 'a cursor in the body needs method POST' });
export type HttpJsonConfig = z.infer<typeof httpJsonConfigSchema>;

/**
 * A fetch handler that GETs or POSTs a JSON API, picks the item array with a
 * JSON pointer, keys each item by another pointer (a string or number; an
 * item without one is skipped with a warning), optionally maps fields, and
 * follows a cursor for at most `maxPages` pages. A response that is not JSON,
 * or has no array where the items should be, is `handler.invalid_response`.
 *
 * @example
 * { url: 'https://api.example/v1/articles', itemsPointer: '/data', keyPointer: '/slug', cursor: { pointer: '/next', param: 'after' } }
 */
export const httpJsonHandler: FetchHandler<HttpJsonConfig> = {
  kind: 'fetch',
  slug: 'http_json',
  description: 'Items from a JSON API: picked by a JSON pointer, keyed, mapped, paged by a cursor.',
  configSchema: httpJsonConfigSchema,
  secretName: 'api_token',
  async fetch(config, call) {
    const authorization: Record<string, string> = config.auth === 'bearer' ? { authorization: `Bearer ${requireSecret(call, 'http_json')}` } : {};
    return withCallHttp(call, async (http) => {
      const items: FetchedItem[] = [];
      const seen = new Set<string>();
      let cursor: string | undefined;
      for (let page = 1; page <= config.maxPages; page += 1) {
        const document = await fetchPage(http, config, call, authorization, cursor);
        items.push(...pageItems(document, config, call, seen));
        const next = config.cursor ? cursorValue(resolveJsonPointer(document, config.cursor.pointer)) : undefined;
        // A cursor that does not move would page forever.
        if (next === undefined || next === cursor) return items;
        if (page === config.maxPages) call.logger.info({ url: config.url, maxPages: config.maxPages }, 'stopped at the page cap with more pages left');
        cursor = next;
      }
      return items;
    });
  },
};

async function fetchPage(http: HandlerHttpClient, config: HttpJsonConfig, call: HandlerContext, authorization: Record<string, string>, cursor: string | undefined): Promise<unknown> {
  const url = new URL(config.url);
  let body = config.body;
  if (cursor !== undefined && config.cursor) {
    if (config.cursor.in === 'query') url.searchParams.set(config.cursor.param, cursor);
    else body = { ...body, [config.cursor.param]: cursor };
  }
  const response = await http.request({
    url: url.href,
    method: config.method,
    signal: call.signal,
    headers: { ...config.headers, accept: 'application/json', ...authorization, ...(config.method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    body: config.method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  throwForStatus(response, 'The API');
  return response.json();
}

function pageItems(document: unknown, config: HttpJsonConfig, call: HandlerContext, seen: Set<string>): FetchedItem[] {
  const list = resolveJsonPointer(document, config.itemsPointer);
  if (!Array.isArray(list)) {
    throw new HandlerError('handler.invalid_response', `The API response has no array at "${config.itemsPointer}".`, false, { details: { itemsPointer: config.itemsPointer } });
  }
  const items: FetchedItem[] = [];
  let unkeyed = 0;
  for (const item of list as unknown[]) {
    const key = cursorValue(resolveJsonPointer(item, config.keyPointer));
    if (key === undefined) {
      unkeyed += 1;
      continue;
    }
    // An item that moved to the next page while paging is yielded once.
    if (seen.has(key)) continue;
    seen.add(key);
    items.push({ sourceKey: key, data: config.fields ? mapFields(item, config.fields) : item });
  }
  if (unkeyed > 0) call.logger.warn({ url: config.url, keyPointer: config.keyPointer, skipped: unkeyed }, 'API items without a key were skipped');
  return items;
}

function mapFields(item: unknown, fields: Readonly<Record<string, string>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([name, pointer]) => [name, resolveJsonPointer(item, pointer) ?? null]));
}

/** A non-empty string, or a finite number as a string; anything else is no value. */
function cursorValue(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
