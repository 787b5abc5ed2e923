import { describe, expect, it } from 'vitest';
import { handlerCall, handlerFailureOf, useLocalServer } from '../../../test/support/handler-fixture';
import { httpJsonConfigSchema, httpJsonHandler } from './http-json-handler';

describe('http_json fetch handler', () => {
  const local = useLocalServer();

  const config = (extra: Record<string, unknown>) => httpJsonConfigSchema.parse({ url: `${local.fixture.url}/api`, ...extra });
  const call = () => handlerCall({ http: local.http, secret: 'token-1' });

  it('picks items with a pointer and keys them, numbers as strings', async () => {
    local.fixture.route('GET', '/api', () => ({ body: { data: { articles: [{ id: 7, title: 'A' }, { id: 'b', title: 'B' }] } } }));
    expect(await httpJsonHandler.fetch(config({ itemsPointer: '/data/articles' }), call())).toEqual([
      { sourceKey: '7', data: { id: 7, title: 'A' } },
      { sourceKey: 'b', data: { id: 'b', title: 'B' } },
    ]);
  });

  it('maps fields by pointer, missing ones as null', async () => {
    local.fixture.route('GET', '/api', () => ({ body: [{ meta: { slug: 's1' }, attributes: { headline: 'H' } }] }));
    const items = await httpJsonHandler.fetch(config({ keyPointer: '/meta/slug', fields: { title: '/attributes/headline', author: '/attributes/author' } }), call());
    expect(items).toEqual([{ sourceKey: 's1', data: { title: 'H', author: null } }]);
  });

  it('follows a cursor in the query until it runs out', async () => {
    const pages: Record<string, unknown> = {
      start: { items: [{ id: 1 }], next: 'p2' },
      p2: { items: [{ id: 2 }], next: 'p3' },
      p3: { items: [{ id: 3 }], next: null },
    };
    local.fixture.route('GET', '/api', (request) => ({ body: pages[request.query.get('after') ?? 'start'] }));
    const items = await httpJsonHandler.fetch(config({ itemsPointer: '/items', cursor: { pointer: '/next', param: 'after' } }), call());
    expect(items.map((item) => item.sourceKey)).toEqual(['1', '2', '3']);
    expect(local.fixture.requests.map((request) => request.query.get('after'))).toEqual([null, 'p2', 'p3']);
  });

  it('stops at the page cap, and at a cursor that does not move', async () => {
    let page = 0;
    local.fixture.route('GET', '/api', () => ({ body: { items: [{ id: ++page }], next: `c${page}` } }));
    expect(await httpJsonHandler.fetch(config({ itemsPointer: '/items', cursor: { pointer: '/next', param: 'c' }, maxPages: 3 }), call())).toHaveLength(3);
    local.fixture.route('GET', '/api', () => ({ body: { items: [{ id: 'same' }], next: 'stuck' } }));
    const before = local.fixture.requests.length;
    expect(await httpJsonHandler.fetch(config({ itemsPointer: '/items', cursor: { pointer: '/next', param: 'c' }, maxPages: 10 }), call())).toHaveLength(1);
    expect(local.fixture.requests.length - before).toBe(2);
  });

  it('POSTs a JSON body with the cursor in it and a bearer token from the secret', async () => {
    local.fixture.route('POST', '/api', (request) => {
      const body = request.json() as { query: string; cursor?: string };
      return { body: body.cursor ? { results: [{ id: 'y' }] } : { results: [{ id: 'x' }], page: { next: 'n2' } } };
    });
    const items = await httpJsonHandler.fetch(
      config({ method: 'POST', body: { query: 'news' }, auth: 'bearer', itemsPointer: '/results', cursor: { pointer: '/page/next', param: 'cursor', in: 'body' } }),
      call(),
    );
    expect(items.map((item) => item.sourceKey)).toEqual(['x', 'y']);
    expect(local.fixture.requests.map((request) => request.json())).toEqual([{ query: 'news' }, { query: 'news', cursor: 'n2' }]);
    expect(local.fixture.requests[0]?.headers.authorization).toBe('Bearer token-1');
  });

  it('skips items without a key and yields an item seen on an earlier page once', async () => {
    const pages: Record<string, unknown> = { start: { items: [{ id: 1 }, { name: 'no id' }], next: 'p2' }, p2: { items: [{ id: 1 }, { id: 2 }] } };
    local.fixture.route('GET', '/api', (request) => ({ body: pages[request.query.get('c') ?? 'start'] }));
    const items = await httpJsonHandler.fetch(config({ itemsPointer: '/items', cursor: { pointer: '/next', param: 'c' } }), call());
    expect(items.map((item) => item.sourceKey)).toEqual(['1', '2']);
  });

  it('answers a response without an array at the pointer, or not JSON, with handler.invalid_response', async () => {
    local.fixture.route('GET', '/api', () => ({ body: { data: { articles: 'none' } } }));
    expect(await handlerFailureOf(httpJsonHandler.fetch(config({ itemsPointer: '/data/articles' }), call()))).toEqual({ code: 'handler.invalid_response', retryable: false });
    local.fixture.route('GET', '/api', () => ({ body: '<html>' }));
    expect(await handlerFailureOf(httpJsonHandler.fetch(config({}), call()))).toEqual({ code: 'handler.invalid_response', retryable: false });
  });

  it('needs the secret for bearer auth', async () => {
    expect(await handlerFailureOf(httpJsonHandler.fetch(config({ auth: 'bearer' }), handlerCall({ http: local.http })))).toEqual({ code: 'handler.secret_missing', retryable: false });
  });

  it('refuses, by field, a body on a GET, a body cursor on a GET and a malformed pointer', () => {
    const paths = (input: Record<string, unknown>) => httpJsonConfigSchema.safeParse({ url: 'https://api.example/x', ...input }).error?.issues.map((issue) => issue.path.join('.'));
    expect(paths({ body: { a: 1 } })).toEqual(['body']);
    expect(paths({ cursor: { pointer: '/next', param: 'c', in: 'body' } })).toEqual(['cursor.in']);
    expect(paths({ itemsPointer: 'data.items' })).toEqual(['itemsPointer']);
  });
});
