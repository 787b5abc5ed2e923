import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWordPressServer, type WordPressServer } from './wordpress-server';

describe('WordPress fixture server', () => {
  let wordpress: WordPressServer;
  const auth = { authorization: `Basic ${Buffer.from('editor:abcd efgh ijkl mnop qrst uvwx').toString('base64')}`, 'content-type': 'application/json' };
  const api = (path: string) => `${wordpress.url}/wp-json/wp/v2${path}`;
  beforeAll(async () => {
    wordpress = await startWordPressServer();
  });
  afterAll(() => wordpress.close());

  it('creates a post for a signed-in user with 201 and a Location header', async () => {
    const response = await fetch(api('/posts'), { method: 'POST', headers: auth, body: JSON.stringify({ title: 'T', content: 'C', status: 'publish' }) });
    const body = (await response.json()) as { id: number; title: { raw: string } };
    expect([response.status, response.headers.get('location'), body.title.raw]).toEqual([201, api(`/posts/${body.id}`), 'T']);
  });

  it('answers WordPress error bodies: no auth, a wrong password, an unknown route, a bad status', async () => {
    const anonymous = await fetch(api('/posts'), { method: 'POST', body: '{}' });
    expect([anonymous.status, await anonymous.json()]).toEqual([401, { code: 'rest_cannot_create', message: 'Sorry, you are not allowed to create posts as this user.', data: { status: 401 } }]);
    const wrong = await fetch(api('/posts'), { method: 'POST', headers: { authorization: `Basic ${Buffer.from('editor:nope').toString('base64')}` }, body: '{}' });
    expect(((await wrong.json()) as { code: string }).code).toBe('incorrect_password');
    const missing = await fetch(api('/nothing'));
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, 'rest_no_route']);
    const invalid = await fetch(api('/posts'), { method: 'POST', headers: auth, body: JSON.stringify({ title: 'x', status: 'gone' }) });
    expect([invalid.status, ((await invalid.json()) as { code: string }).code]).toEqual([400, 'rest_invalid_param']);
  });

  it('pages lists with X-WP-Total and X-WP-TotalPages, and refuses a page past the end', async () => {
    for (let index = 0; index < 5; index += 1) wordpress.addTerm('post_tag', `tag ${index}`);
    const page = await fetch(api('/tags?per_page=2&page=3'));
    expect([page.headers.get('x-wp-total'), page.headers.get('x-wp-totalpages'), ((await page.json()) as unknown[]).length]).toEqual(['5', '3', 1]);
    const past = await fetch(api('/tags?per_page=2&page=4'));
    expect([past.status, ((await past.json()) as { code: string }).code]).toEqual([400, 'rest_term_invalid_page_number']);
  });

  it('answers a duplicate term with term_exists and the existing id, and escapes names', async () => {
    const created = await fetch(api('/categories'), { method: 'POST', headers: auth, body: JSON.stringify({ name: 'Q & A' }) });
    const term = (await created.json()) as { id: number; name: string };
    expect(term.name).toBe('Q &amp; A');
    const again = await fetch(api('/categories'), { method: 'POST', headers: auth, body: JSON.stringify({ name: 'q & a' }) });
    expect([again.status, await again.json()]).toEqual([400, { code: 'term_exists', message: 'A term with the name provided already exists with this parent.', data: { status: 400, term_id: term.id } }]);
  });

  it('uploads media from a raw body and needs a Content-Disposition', async () => {
    const refused = await fetch(api('/media'), { method: 'POST', headers: { authorization: auth.authorization }, body: 'bytes' });
    expect(((await refused.json()) as { code: string }).code).toBe('rest_upload_no_content_disposition');
    const uploaded = await fetch(api('/media'), { method: 'POST', headers: { authorization: auth.authorization, 'content-type': 'image/png', 'content-disposition': 'attachment; filename="a.png"' }, body: 'bytes' });
    expect([uploaded.status, ((await uploaded.json()) as { media_type: string }).media_type]).toEqual([201, 'image']);
  });

  it('shows raw fields only in the edit context, which needs a signed-in user', async () => {
    const created = (await (await fetch(api('/posts'), { method: 'POST', headers: auth, body: JSON.stringify({ title: 'Raw', content: 'C', status: 'publish' }) })).json()) as { id: number };
    const view = (await (await fetch(api(`/posts/${created.id}`))).json()) as { title: { raw?: string } };
    const edit = (await (await fetch(api(`/posts/${created.id}?context=edit`), { headers: auth })).json()) as { title: { raw?: string } };
    const anonymous = await fetch(api(`/posts/${created.id}?context=edit`));
    expect([view.title.raw, edit.title.raw, anonymous.status, ((await anonymous.json()) as { code: string }).code]).toEqual([undefined, 'Raw', 401, 'rest_forbidden_context']);
  });

  it('deletes a term only with force=true, and takes it off its posts; counts published posts', async () => {
    const term = wordpress.addTerm('category', 'Doomed');
    const post = (await (await fetch(api('/posts'), { method: 'POST', headers: auth, body: JSON.stringify({ title: 'P', status: 'publish', categories: [term.id] }) })).json()) as { id: number };
    expect(((await (await fetch(api(`/categories/${term.id}`))).json()) as { count: number }).count).toBe(1);
    const trash = await fetch(api(`/categories/${term.id}`), { method: 'DELETE', headers: auth });
    expect([trash.status, ((await trash.json()) as { code: string }).code]).toEqual([501, 'rest_trash_not_supported']);
    const deleted = await fetch(api(`/categories/${term.id}?force=true`), { method: 'DELETE', headers: auth });
    expect([deleted.status, ((await deleted.json()) as { deleted: boolean }).deleted]).toEqual([200, true]);
    expect(wordpress.posts.find((candidate) => candidate.id === post.id)?.categories).toEqual([]);
    const again = await fetch(api(`/categories/${term.id}?force=true`), { method: 'DELETE', headers: auth });
    expect([again.status, ((await again.json()) as { code: string }).code]).toEqual([404, 'rest_term_invalid']);
  });

  it('fails the next matching request on demand, then answers normally', async () => {
    wordpress.failNext('GET', '/tags');
    const failed = await fetch(api('/tags'));
    expect([failed.status, ((await failed.json()) as { code: string }).code]).toEqual([500, 'internal_server_error']);
    expect((await fetch(api('/tags'))).status).toBe(200);
  });
});
