import { describeEachDatabase, startHttpFixture, startWordPressServer, type HttpFixture, type WordPressServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { flowHandlerCall, handlerFailureOf, localHttp } from '../../../test/support/handler-fixture';
import { migratedContext, type TestContext } from '../../../test/support/identity-fixture';
import type { HandlerContext } from '../handler';
import { HandlerError } from '../handler-error';
import type { HandlerHttpClient } from '../http/handler-http-client';
import { createWordPressHandler, wordpressConfigSchema } from './wordpress-handler';

const password = 'abcd efgh ijkl mnop qrst uvwx';

await describeEachDatabase<DataMachineDatabase>('wordpress publish handler', (database) => {
  let context: TestContext;
  let wordpress: WordPressServer;
  let images: HttpFixture;
  let http: HandlerHttpClient;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    wordpress = await startWordPressServer();
    images = await startHttpFixture();
    http = localHttp();
  });
  afterAll(async () => {
    await http.close();
    await images.close();
    await wordpress.close();
  });

  const config = (extra: Record<string, unknown> = {}) => wordpressConfigSchema.parse({ siteUrl: wordpress.url, username: 'editor', ...extra });
  const call = (slug: string, overrides: Partial<HandlerContext> = {}) => flowHandlerCall(context, slug, { http, secret: password, stepKey: 'publish', ...overrides });
  const postsTitled = (title: string) => wordpress.posts.filter((post) => post.title === title);
  const identitiesOf = (tenantId: string) =>
    database.db.selectFrom('dm_remote_identities').select(['identity_key', 'remote_id']).where('tenant_id', '=', tenantId).orderBy('identity_key').execute();

  it('creates a post with its fields, categories and tags by name, creating the missing ones', async () => {
    const news = wordpress.addTerm('category', 'News & Views');
    const handler = createWordPressHandler(context);
    const target = await call('wp-create');
    const result = await handler.publish(
      { body: { title: 'Hello', content: '<p>Body</p>', excerpt: 'Short', categories: ['Fresh Category'], tags: ['alpha', 'Alpha', 'beta'] }, idempotencyKey: 'job_1:publish' },
      config({ status: 'publish', categories: ['news & views'] }),
      target,
    );
    const [post] = postsTitled('Hello');
    expect(result).toEqual({ id: String(post?.id), created: true, url: `${wordpress.url}/?p=${post?.id}` });
    const fresh = wordpress.terms.find((term) => term.name === 'Fresh Category');
    const tags = ['alpha', 'beta'].map((name) => wordpress.terms.find((term) => term.taxonomy === 'post_tag' && term.name === name)?.id);
    expect(post).toMatchObject({ content: '<p>Body</p>', excerpt: 'Short', status: 'publish', categories: [news.id, fresh?.id], tags });
    expect(await identitiesOf(target.tenantId)).toEqual([{ identity_key: 'job_1:publish', remote_id: String(post?.id) }]);
  });

  it('finds an existing category on a later page of search results', async () => {
    for (let index = 0; index < 105; index += 1) wordpress.addTerm('category', `A Paged ${String(index).padStart(3, '0')}`);
    const paged = wordpress.addTerm('category', 'Paged');
    const handler = createWordPressHandler(context);
    await handler.publish({ body: { title: 'Paged post', content: 'x' }, idempotencyKey: 'job_1:publish' }, config({ categories: ['Paged'] }), await call('wp-paged'));
    expect(postsTitled('Paged post')[0]?.categories).toEqual([paged.id]);
    expect(wordpress.requests.some((request) => request.path.endsWith('/categories') && request.query.get('page') === '2')).toBe(true);
  });

  it('reuses the id WordPress reports in term_exists when a name differs but its slug is taken', async () => {
    const cafe = wordpress.addTerm('category', 'Café');
    const handler = createWordPressHandler(context);
    await handler.publish({ body: { title: 'Cafe post', content: 'x', categories: ['Cafe'] }, idempotencyKey: 'job_1:publish' }, config(), await call('wp-term-exists'));
    expect(postsTitled('Cafe post')[0]?.categories).toEqual([cafe.id]);
  });

  it('uploads the featured image from its URL and sets it on the post', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    images.route('GET', '/photos/sunset.png', () => ({ headers: { 'content-type': 'image/png' }, body: png }));
    const handler = createWordPressHandler(context);
    await handler.publish({ body: { title: 'With image', content: 'x', featuredImageUrl: `${images.url}/photos/sunset.png` }, idempotencyKey: 'job_1:publish' }, config(), await call('wp-media'));
    const media = wordpress.media.at(-1);
    expect(media).toMatchObject({ filename: 'sunset.png', mimeType: 'image/png', bytes: png.length });
    expect(postsTitled('With image')[0]?.featured_media).toBe(media?.id);
  });

  it('finds its post on a retry of the same publish instead of creating a second', async () => {
    const handler = createWordPressHandler(context);
    const target = await call('wp-retry');
    const first = await handler.publish({ body: { title: 'Retried', content: 'x' }, idempotencyKey: 'job_1:publish' }, config(), target);
    const again = await handler.publish({ body: { title: 'Retried', content: 'x' }, idempotencyKey: 'job_1:publish' }, config(), target);
    expect(again).toEqual({ ...first, created: false });
    expect(postsTitled('Retried')).toHaveLength(1);
  });

  it('upserts by item key: a later job updates the post the first one created', async () => {
    const handler = createWordPressHandler(context);
    const target = await call('wp-upsert');
    const created = await handler.publish({ body: { title: 'Version 1', content: 'one' }, idempotencyKey: 'job_1:publish', itemKey: 'https://feed.example/a' }, config(), target);
    const updated = await handler.publish({ body: { title: 'Version 2', content: 'two' }, idempotencyKey: 'job_2:publish', itemKey: 'https://feed.example/a' }, config(), target);
    expect(updated).toEqual({ ...created, created: false });
    expect(wordpress.posts.find((post) => String(post.id) === created.id)).toMatchObject({ title: 'Version 2', content: 'two' });
    expect(postsTitled('Version 1')).toHaveLength(0);
  });

  it('creates one post when two jobs race on the same item; the loser is told to retry and then updates', async () => {
    const handler = createWordPressHandler(context);
    const target = await call('wp-race');
    const attempts = await Promise.allSettled(
      ['job_1:publish', 'job_2:publish', 'job_3:publish'].map((idempotencyKey) => handler.publish({ body: { title: 'Raced', content: 'x' }, idempotencyKey, itemKey: 'item-race' }, config(), target)),
    );
    expect(postsTitled('Raced')).toHaveLength(1);
    const created = attempts.filter((attempt) => attempt.status === 'fulfilled' && attempt.value.created);
    expect(created).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') expect(HandlerError.isInstance(attempt.reason) && [attempt.reason.code, attempt.reason.retryable]).toEqual(['handler.identity_busy', true]);
    }
    const retried = await handler.publish({ body: { title: 'Raced', content: 'y' }, idempotencyKey: 'job_2:publish', itemKey: 'item-race' }, config(), target);
    expect(retried.created).toBe(false);
    expect(postsTitled('Raced')).toHaveLength(1);
  });

  it('publishes again, and remembers the new post, when the stored one was deleted on the site', async () => {
    const handler = createWordPressHandler(context);
    const target = await call('wp-deleted');
    const first = await handler.publish({ body: { title: 'Phoenix', content: 'x' }, idempotencyKey: 'job_1:publish', itemKey: 'phoenix' }, config(), target);
    wordpress.posts.splice(wordpress.posts.findIndex((post) => String(post.id) === first.id), 1);
    const second = await handler.publish({ body: { title: 'Phoenix', content: 'x' }, idempotencyKey: 'job_2:publish', itemKey: 'phoenix' }, config(), target);
    expect(second.created).toBe(true);
    expect(second.id).not.toBe(first.id);
    expect(await identitiesOf(target.tenantId)).toEqual([{ identity_key: 'phoenix', remote_id: second.id }]);
  });

  describe('refusals', () => {
    it('answers a wrong application password with handler.remote_rejected carrying incorrect_password, and frees the reservation', async () => {
      const handler = createWordPressHandler(context);
      const target = await call('wp-bad-password', { secret: 'wrong password' });
      const error = await handler.publish({ body: { title: 'Denied', content: 'x' }, idempotencyKey: 'job_1:publish' }, config(), target).catch((failure: unknown) => failure);
      expect(error).toMatchObject({ code: 'handler.remote_rejected', retryable: false, details: { status: 401, wordpressCode: 'incorrect_password' } });
      expect(await identitiesOf(target.tenantId)).toEqual([]);
      const fixed = await handler.publish({ body: { title: 'Denied', content: 'x' }, idempotencyKey: 'job_1:publish' }, config(), { ...target, secret: password });
      expect(fixed.created).toBe(true);
    });

    it('refuses to publish without the application password: handler.secret_missing', async () => {
      const handler = createWordPressHandler(context);
      expect(await handlerFailureOf(handler.publish({ body: { title: 'T', content: 'x' }, idempotencyKey: 'k' }, config(), await call('wp-no-secret', { secret: undefined })))).toEqual({
        code: 'handler.secret_missing',
        retryable: false,
      });
    });

    it('refuses, naming the field, an input that is not a post, before any request', async () => {
      const handler = createWordPressHandler(context);
      const before = wordpress.requests.length;
      const error = await handler.publish({ body: { content: 'no title' }, idempotencyKey: 'k' }, config(), await call('wp-bad-input')).catch((failure: unknown) => failure);
      expect(error).toMatchObject({ code: 'handler.invalid_input', retryable: false, details: { issues: [expect.objectContaining({ path: 'title' })] } });
      expect(wordpress.requests.length).toBe(before);
    });

    it('refuses a configuration with an unknown status or a non-http site', () => {
      expect(wordpressConfigSchema.safeParse({ siteUrl: 'https://blog.example', username: 'u', status: 'trash' }).success).toBe(false);
      expect(wordpressConfigSchema.safeParse({ siteUrl: 'ftp://blog.example', username: 'u' }).success).toBe(false);
    });
  });

  describe('test connection', () => {
    it('passes with the right application password and explains a wrong one', async () => {
      const handler = createWordPressHandler(context);
      expect(await handler.testConnection?.(config(), await call('wp-test-ok'))).toEqual({ ok: true });
      const denied = await handler.testConnection?.(config({ username: 'ghost' }), await call('wp-test-bad'));
      expect(denied).toEqual({ ok: false, message: expect.stringContaining('invalid_username') });
    });
  });
});
