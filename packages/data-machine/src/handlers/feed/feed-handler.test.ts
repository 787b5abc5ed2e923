import { describeEachDatabase, feedFixtures, type FeedFixtureName } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { flowHandlerCall, handlerCall, handlerFailureOf, useLocalServer } from '../../../test/support/handler-fixture';
import { migratedContext, type TestContext } from '../../../test/support/identity-fixture';
import { claimItems, markItemsDone, releaseItems } from '../../items/processed-items';
import { inTenant } from '../../scope/tenant-transaction';
import type { HandlerContext } from '../handler';
import { createHandlerStateStore } from '../state/handler-state-store';
import { createItemProgress } from '../state/item-progress';
import { createFeedHandler, feedConfigSchema, type FeedItemData } from './feed-handler';

const local = useLocalServer();

function serve(name: FeedFixtureName, headers: Record<string, string> = {}): string {
  local.fixture.route('GET', `/${name}.xml`, () => ({ headers: { 'content-type': 'application/xml; charset=utf-8', ...headers }, body: feedFixtures[name] }));
  return `${local.fixture.url}/${name}.xml`;
}

const config = (url: string, extra: Record<string, unknown> = {}) => feedConfigSchema.parse({ url, ...extra });

describe('rss fetch handler: parsing', () => {
  const handler = createFeedHandler();

  it('reads RSS 2.0: guid as key, else link; entities and CDATA decoded; content:encoded and dc:creator read', async () => {
    const items = await handler.fetch(config(serve('rss2')), handlerCall({ http: local.http }));
    expect(items.map((item) => item.sourceKey)).toEqual([
      'https://blog.example/?p=101',
      'https://blog.example/2026/11/no-guid/',
      'https://blog.example/2026/11/bad-date/',
      'https://blog.example/?p=90',
    ]);
    const first = items[0]?.data as FeedItemData;
    expect(first).toMatchObject({
      title: 'Rock \u2018n\u2019 roll & the <script> tag',
      url: 'https://blog.example/2026/11/rock-n-roll/',
      // The parser decodes entities once, inside CDATA too.
      content: '<p>The full <strong>story</strong> of café & culture.</p>',
      published: '2026-11-30T09:00:00.000Z',
      authors: ['Ada Writer'],
      categories: ['Music', 'Essays'],
      feed: { title: 'Field Notes & Errata', url: 'https://blog.example' },
    });
  });

  it('yields an entry with a date that does not parse, dated null', async () => {
    const items = await handler.fetch(config(serve('rss2')), handlerCall({ http: local.http }));
    expect((items.find((item) => item.sourceKey.endsWith('/bad-date/'))?.data as FeedItemData).published).toBeNull();
  });

  it('reads Atom 1.0: id as key, alternate link, escaped HTML content, dates with offsets as UTC', async () => {
    const items = await handler.fetch(config(serve('atom')), handlerCall({ http: local.http }));
    expect(items.map((item) => item.sourceKey)).toEqual(['tag:releases.example,2008:Repository/1/v2.1.0', 'tag:releases.example,2008:Repository/1/v2.0.0']);
    expect(items[0]?.data).toMatchObject({
      title: 'v2.1.0 \u2013 faster & smaller',
      url: 'https://releases.example/project/releases/tag/v2.1.0',
      content: "<h2>What's new</h2><p>Everything.</p>",
      published: '2026-11-30T08:45:00.000Z',
      updated: '2026-11-30T09:00:00.000Z',
      authors: ['octo'],
    });
  });

  it('reads RSS 1.0 (RDF) with Dublin Core dates and subjects', async () => {
    const items = await handler.fetch(config(serve('rdf')), handlerCall({ http: local.http }));
    expect(items.map((item) => item.sourceKey)).toEqual(['https://news.example/story/26/11/30/1', 'https://news.example/story/26/11/29/2']);
    expect(items[0]?.data).toMatchObject({ title: 'Compilers & coffee', published: '2026-11-30T07:00:00.000Z', authors: ['msmash'] });
  });

  it('reads at most maxItems entries, in feed order', async () => {
    const items = await handler.fetch(config(serve('rss2'), { maxItems: 2 }), handlerCall({ http: local.http }));
    expect(items.map((item) => item.sourceKey)).toEqual(['https://blog.example/?p=101', 'https://blog.example/2026/11/no-guid/']);
  });

  it('skips entries dated at or before a configured since, keeping undated ones', async () => {
    const items = await handler.fetch(config(serve('rss2'), { since: '2026-11-29T18:30:00Z' }), handlerCall({ http: local.http }));
    expect(items.map((item) => item.sourceKey)).toEqual(['https://blog.example/?p=101', 'https://blog.example/2026/11/bad-date/']);
  });

  it('answers a truncated document with handler.feed_invalid carrying the parser reason', async () => {
    const url = serve('truncated');
    const error = await handler.fetch(config(url), handlerCall({ http: local.http })).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ code: 'handler.feed_invalid', retryable: false, details: { url, reason: 'Closing Tag is not closed.' } });
  });

  it('answers an HTML page with handler.feed_invalid', async () => {
    expect(await handlerFailureOf(handler.fetch(config(serve('html')), handlerCall({ http: local.http })))).toEqual({ code: 'handler.feed_invalid', retryable: false });
  });

  it('answers a 404 with handler.remote_rejected and a 503 with retryable handler.remote_failed', async () => {
    expect(await handlerFailureOf(handler.fetch(config(`${local.fixture.url}/gone.xml`), handlerCall({ http: local.http })))).toEqual({ code: 'handler.remote_rejected', retryable: false });
    local.fixture.route('GET', '/busy.xml', () => ({ status: 503 }));
    expect(await handlerFailureOf(handler.fetch(config(`${local.fixture.url}/busy.xml`), handlerCall({ http: local.http })))).toEqual({ code: 'handler.remote_failed', retryable: true });
  });

  it('reaches the network through a strict client when the host hands none: a loopback feed is refused', async () => {
    expect(await handlerFailureOf(handler.fetch(config(serve('rss2')), handlerCall()))).toEqual({ code: 'handler.address_refused', retryable: false });
    expect(local.fixture.requests).toHaveLength(0);
  });

  it('tests a connection by reading the feed, without touching state, and explains a failure', async () => {
    expect(await handler.testConnection?.(config(serve('atom')), handlerCall({ http: local.http }))).toEqual({ ok: true });
    expect(await handler.testConnection?.(config(serve('html')), handlerCall({ http: local.http }))).toEqual({ ok: false, message: expect.stringContaining('not a readable RSS or Atom feed') });
  });

  it('refuses a configuration without an http(s) URL', () => {
    expect(feedConfigSchema.safeParse({ url: 'file:///etc/passwd' }).success).toBe(false);
    expect(feedConfigSchema.safeParse({ url: 'https://blog.example/feed', since: 'yesterday' }).success).toBe(false);
  });
});

await describeEachDatabase<DataMachineDatabase>('rss fetch handler: state between runs', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  it('sends the ETag and Last-Modified it was given, and yields nothing on 304', async () => {
    const handler = createFeedHandler({ state: createHandlerStateStore(context) });
    const call = await flowHandlerCall(context, 'feed-conditional', { http: local.http, stepKey: 'fetch' });
    local.fixture.route('GET', '/cond.xml', (request) =>
      request.headers['if-none-match'] === '"v1"'
        ? { status: 304 }
        : { headers: { etag: '"v1"', 'last-modified': 'Mon, 30 Nov 2026 09:15:00 GMT' }, body: feedFixtures.atom },
    );
    const url = `${local.fixture.url}/cond.xml`;
    expect(await handler.fetch(config(url), call)).toHaveLength(2);
    expect(await handler.fetch(config(url), call)).toEqual([]);
    expect(local.fixture.requests[1]?.headers).toMatchObject({ 'if-none-match': '"v1"', 'if-modified-since': 'Mon, 30 Nov 2026 09:15:00 GMT' });
  });

  it('yields on a later run only entries newer than the newest it yielded before', async () => {
    const handler = createFeedHandler({ state: createHandlerStateStore(context) });
    const call = await flowHandlerCall(context, 'feed-watermark', { http: local.http, stepKey: 'fetch' });
    let body: string = feedFixtures.rdf;
    local.fixture.route('GET', '/wm.xml', () => ({ body }));
    const url = `${local.fixture.url}/wm.xml`;
    expect(await handler.fetch(config(url), call)).toHaveLength(2);
    body = feedFixtures.rdf.replace('<rdf:li rdf:resource="https://news.example/story/26/11/30/1"/>', '').replace(
      '<item rdf:about="https://news.example/story/26/11/30/1">',
      `<item rdf:about="https://news.example/story/26/12/01/3"><title>Newest</title><link>https://news.example/story/26/12/01/3</link><dc:date>2026-12-01T07:00:00+00:00</dc:date></item>
<item rdf:about="https://news.example/story/26/11/30/1">`,
    );
    expect((await handler.fetch(config(url), call)).map((item) => item.sourceKey)).toEqual(['https://news.example/story/26/12/01/3']);
  });

  it('keeps state per flow step: another flow reads the same feed in full', async () => {
    const handler = createFeedHandler({ state: createHandlerStateStore(context) });
    const url = serve('rdf');
    const first = await flowHandlerCall(context, 'feed-step-a', { http: local.http, stepKey: 'fetch' });
    const second = await flowHandlerCall(context, 'feed-step-b', { http: local.http, stepKey: 'fetch' });
    await handler.fetch(config(url), first);
    expect(await handler.fetch(config(url), first)).toEqual([]);
    expect(await handler.fetch(config(url), second)).toHaveLength(2);
  });
});

await describeEachDatabase<DataMachineDatabase>('rss fetch handler: items whose jobs failed', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const newer = 'https://news.example/story/26/11/30/1';
  const older = 'https://news.example/story/26/11/29/2';

  /** What the engine does with a fetch's items: claims them for a job, then marks them done (completed) or releases them (failed). */
  async function settle(call: HandlerContext, outcome: { done?: readonly string[]; failed?: readonly string[] }): Promise<void> {
    await inTenant(context, call.tenantId, null, async (trx) => {
      const keys = [...(outcome.done ?? []), ...(outcome.failed ?? [])];
      await claimItems(context, trx, { flowId: call.flowId, stepKey: call.stepKey, jobId: 'job_settle', sourceKeys: keys, max: keys.length });
      await markItemsDone(context, trx, { flowId: call.flowId, stepKey: call.stepKey, sourceKeys: outcome.done ?? [] });
      await releaseItems(trx, { flowId: call.flowId, stepKey: call.stepKey, sourceKeys: outcome.failed ?? [] });
    });
  }

  function conditionalFeed(path: string): string {
    local.fixture.route('GET', path, (request) => (request.headers['if-none-match'] === '"v1"' ? { status: 304 } : { headers: { etag: '"v1"' }, body: feedFixtures.rdf }));
    return `${local.fixture.url}${path}`;
  }

  it('offers an item whose job failed again on the next run, and uses the validators only once every item is done', async () => {
    const handler = createFeedHandler({ state: createHandlerStateStore(context), items: createItemProgress(context) });
    const call = await flowHandlerCall(context, 'feed-failed', { http: local.http, stepKey: 'fetch' });
    const url = conditionalFeed('/failed.xml');
    const keys = async () => (await handler.fetch(config(url), call)).map((item) => item.sourceKey);
    expect(await keys()).toEqual([newer, older]);
    await settle(call, { done: [newer], failed: [older] });
    // The failed item is offered again (a full read: no validator was kept while it was undone).
    expect(await keys()).toEqual([older]);
    expect(local.fixture.requests[1]?.headers['if-none-match']).toBeUndefined();
    await settle(call, { done: [older] });
    expect(await keys()).toEqual([]);
    expect(local.fixture.requests[2]?.headers['if-none-match']).toBeUndefined();
    expect(await keys()).toEqual([]);
    expect(local.fixture.requests[3]?.headers['if-none-match']).toBe('"v1"');
  });

  it('moves the watermark past done items only: an older done item is not offered again, a newer failed one is', async () => {
    const handler = createFeedHandler({ state: createHandlerStateStore(context), items: createItemProgress(context) });
    const call = await flowHandlerCall(context, 'feed-partial', { http: local.http, stepKey: 'fetch' });
    const url = serve('rdf');
    await handler.fetch(config(url), call);
    await settle(call, { done: [older], failed: [newer] });
    await handler.fetch(config(url), call);
    expect((await handler.fetch(config(url), call)).map((item) => item.sourceKey)).toEqual([newer]);
  });
});
