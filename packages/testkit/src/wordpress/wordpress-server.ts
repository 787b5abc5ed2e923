import { startHttpFixture, type FixtureRequest, type FixtureResponse, type HttpFixture } from '../http-fixture/http-fixture';

/** A post as the fixture stores it (raw fields; responses render them as WordPress does). */
export interface WordPressPost {
  readonly id: number;
  status: string;
  title: string;
  content: string;
  excerpt: string;
  categories: number[];
  tags: number[];
  featured_media: number;
  readonly date: string;
  modified: string;
}

/** A category or tag. */
export interface WordPressTerm {
  readonly id: number;
  readonly name: string;
  readonly slug: string;
  readonly taxonomy: 'category' | 'post_tag';
}

/** An uploaded media item. */
export interface WordPressMedia {
  readonly id: number;
  readonly filename: string;
  readonly mimeType: string;
  readonly bytes: number;
}

/** Options of {@link startWordPressServer}. */
export interface WordPressServerOptions {
  /** Users and their application passwords (with WordPress's spaces). Default: `editor` / `abcd efgh ijkl mnop qrst uvwx`. */
  readonly users?: Readonly<Record<string, string>>;
}

/** A running WordPress REST fixture. */
export interface WordPressServer {
  /** The site URL (`http://127.0.0.1:<port>`); the API is under `/wp-json/wp/v2`. */
  readonly url: string;
  readonly posts: WordPressPost[];
  readonly terms: WordPressTerm[];
  readonly media: WordPressMedia[];
  /** Every request received, in order. */
  readonly requests: readonly FixtureRequest[];
  /** Adds a term directly, as if created in the admin. */
  addTerm(taxonomy: 'category' | 'post_tag', name: string): WordPressTerm;
  /**
   * Makes the next `method` request to `path` (under `/wp-json/wp/v2`, no
   * query: `/posts/12`) fail with a WordPress error, as a site whose plugin
   * or database fails would. Default: 500 `internal_server_error`.
   */
  failNext(method: string, path: string, failure?: WordPressFailure): void;
  close(): Promise<void>;
}

/** An error the fixture answers instead of a request's result (see {@link WordPressServer.failNext}). */
export interface WordPressFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

const criticalError: WordPressFailure = { status: 500, code: 'internal_server_error', message: '<p>There has been a critical error on this website.</p>' };

const prefix = '/wp-json/wp/v2';
const statuses = ['publish', 'future', 'draft', 'pending', 'private'];

/**
 * Starts a local HTTP server implementing the part of the WordPress REST API
 * handlers use, with WordPress's status codes and error bodies
 * (`{ code, message, data: { status } }`): posts (list with `X-WP-Total` /
 * `X-WP-TotalPages`, get, create, update, trash or force-delete; raw fields
 * in the `edit` context and in answers to writes), categories and tags
 * (search, paged, create, `term_exists` on a duplicate name, force-delete,
 * `count` of published posts), media upload from a raw body with
 * `Content-Disposition` and force-delete, failures on demand
 * (`failNext`), and application-password
 * basic auth (writes need it; a wrong password is `incorrect_password`).
 * Term names come back HTML-escaped, as WordPress sends them.
 *
 * @example
 * const wordpress = await startWordPressServer();
 * // POST `${wordpress.url}/wp-json/wp/v2/posts` with Authorization: Basic editor:<app password>
 */
export async function startWordPressServer(options: WordPressServerOptions = {}): Promise<WordPressServer> {
  const users = options.users ?? { editor: 'abcd efgh ijkl mnop qrst uvwx' };
  const posts: WordPressPost[] = [];
  const terms: WordPressTerm[] = [];
  const media: WordPressMedia[] = [];
  let nextId = 1;
  let site = '';

  const addTerm = (taxonomy: 'category' | 'post_tag', name: string): WordPressTerm => {
    const term: WordPressTerm = { id: nextId++, name, slug: slugify(name), taxonomy };
    terms.push(term);
    return term;
  };

  const failures: { method: string; path: string; failure: WordPressFailure }[] = [];

  function route(request: FixtureRequest): FixtureResponse {
    if (!request.path.startsWith(`${prefix}/`)) return wpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    const failing = failures.findIndex((entry) => entry.method === request.method && `${prefix}${entry.path}` === request.path);
    if (failing >= 0) {
      const { failure } = failures.splice(failing, 1)[0] ?? { failure: criticalError };
      return wpError(failure.status, failure.code, failure.message);
    }
    const auth = authenticate(request, users);
    if (auth === 'invalid_username') return wpError(401, 'invalid_username', 'Unknown username. Check again or try your email address.');
    if (auth === 'incorrect_password') return wpError(401, 'incorrect_password', 'The provided password is an invalid application password.');
    const signedIn = auth === 'ok';
    const [collection, idText, ...rest] = request.path.slice(prefix.length + 1).split('/');
    if (rest.length > 0) return noRoute();
    const id = idText === undefined ? undefined : /^\d+$/.test(idText) ? Number(idText) : Number.NaN;
    if (Number.isNaN(id)) return noRoute();
    const context: Context = { request, signedIn, id, posts, terms, media, site, nextId: () => nextId++ };
    switch (collection) {
      case 'posts':
        return postsRoute(context);
      case 'categories':
        return termsRoute(context, 'category');
      case 'tags':
        return termsRoute(context, 'post_tag');
      case 'media':
        return mediaRoute(context);
      default:
        return noRoute();
    }
  }

  const fixture: HttpFixture = await startHttpFixture({ fallback: route });
  site = fixture.url;
  const failNext = (method: string, path: string, failure: WordPressFailure = criticalError): void => {
    failures.push({ method: method.toUpperCase(), path, failure });
  };
  return { url: fixture.url, posts, terms, media, requests: fixture.requests, addTerm, failNext, close: () => fixture.close() };
}

interface Context {
  readonly request: FixtureRequest;
  readonly signedIn: boolean;
  readonly id: number | undefined;
  readonly posts: WordPressPost[];
  readonly terms: WordPressTerm[];
  readonly media: WordPressMedia[];
  readonly site: string;
  nextId(): number;
}

function postsRoute(context: Context): FixtureResponse {
  const { request, id } = context;
  if (id === undefined) {
    if (request.method === 'GET') return listPosts(context);
    if (request.method === 'POST') return createPost(context);
    return noRoute();
  }
  const post = context.posts.find((candidate) => candidate.id === id);
  if (request.method === 'GET') {
    if (!post) return wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
    if (post.status !== 'publish' && !context.signedIn) return wpError(401, 'rest_forbidden', 'Sorry, you are not allowed to do that.');
    if (editContext(request) && !context.signedIn) return wpError(401, 'rest_forbidden_context', 'Sorry, you are not allowed to edit this post.');
    return { body: renderPost(post, context.site, editContext(request)) };
  }
  if (request.method === 'POST' || request.method === 'PUT' || request.method === 'PATCH') {
    if (!context.signedIn) return wpError(401, 'rest_cannot_edit', 'Sorry, you are not allowed to edit this post.');
    if (!post) return wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
    const fields = postFields(context);
    if ('error' in fields) return fields.error;
    Object.assign(post, fields.values, { modified: new Date().toISOString() });
    return { body: renderPost(post, context.site, true) };
  }
  if (request.method === 'DELETE') {
    if (!context.signedIn) return wpError(401, 'rest_cannot_delete', 'Sorry, you are not allowed to delete this post.');
    if (!post) return wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
    if (request.query.get('force') === 'true') {
      const previous = renderPost(post, context.site, true);
      context.posts.splice(context.posts.indexOf(post), 1);
      return { body: { deleted: true, previous } };
    }
    if (post.status === 'trash') return wpError(410, 'rest_already_trashed', 'The post has already been deleted.');
    post.status = 'trash';
    return { body: renderPost(post, context.site, true) };
  }
  return noRoute();
}

function listPosts(context: Context): FixtureResponse {
  const wanted = context.request.query.get('status') ?? 'publish';
  if (wanted !== 'publish' && !context.signedIn) return invalidParam('status', 'Status is forbidden.', 400);
  const search = context.request.query.get('search')?.toLowerCase();
  const visible = context.posts
    .filter((post) => (wanted === 'any' ? post.status !== 'trash' : post.status === wanted))
    .filter((post) => search === undefined || post.title.toLowerCase().includes(search) || post.content.toLowerCase().includes(search))
    .sort((a, b) => b.date.localeCompare(a.date) || b.id - a.id);
  if (editContext(context.request) && !context.signedIn) return wpError(401, 'rest_forbidden_context', 'Sorry, you are not allowed to edit posts in this post type.');
  return paged(context.request, visible, (post) => renderPost(post, context.site, editContext(context.request)), 'rest_post_invalid_page_number');
}

function createPost(context: Context): FixtureResponse {
  if (!context.signedIn) return wpError(401, 'rest_cannot_create', 'Sorry, you are not allowed to create posts as this user.');
  const fields = postFields(context);
  if ('error' in fields) return fields.error;
  const now = new Date().toISOString();
  const post: WordPressPost = { id: context.nextId(), status: 'draft', title: '', content: '', excerpt: '', categories: [], tags: [], featured_media: 0, date: now, modified: now, ...fields.values };
  context.posts.push(post);
  return { status: 201, headers: { location: `${context.site}${prefix}/posts/${post.id}` }, body: renderPost(post, context.site, true) };
}

type PostFields = Partial<Pick<WordPressPost, 'status' | 'title' | 'content' | 'excerpt' | 'categories' | 'tags' | 'featured_media'>>;

/** The writable fields of a post body, checked as WordPress checks them. */
function postFields(context: Context): { values: PostFields } | { error: FixtureResponse } {
  const body = jsonBody(context.request);
  if (body === undefined) return { error: wpError(400, 'rest_invalid_json', 'Invalid JSON body passed.') };
  const values: PostFields = {};
  for (const field of ['title', 'content', 'excerpt'] as const) {
    const value = body[field];
    if (value === undefined) continue;
    const text = typeof value === 'object' && value !== null && 'raw' in value ? (value as { raw: unknown }).raw : value;
    if (typeof text !== 'string') return { error: invalidParam(field, `${field} is not of type object,string.`) };
    values[field] = text;
  }
  if (body.status !== undefined) {
    if (typeof body.status !== 'string' || !statuses.includes(body.status)) return { error: invalidParam('status', `status is not one of ${statuses.join(', ')}.`) };
    values.status = body.status;
  }
  for (const [field, taxonomy] of [['categories', 'category'], ['tags', 'post_tag']] as const) {
    const ids = body[field];
    if (ids === undefined) continue;
    if (!Array.isArray(ids) || !ids.every((value) => Number.isInteger(value))) return { error: invalidParam(field, `${field}[0] is not of type integer.`) };
    if (!ids.every((termId) => context.terms.some((term) => term.id === termId && term.taxonomy === taxonomy))) {
      return { error: wpError(400, 'rest_invalid_term_id', 'Invalid term ID.') };
    }
    values[field] = ids as number[];
  }
  if (body.featured_media !== undefined) {
    if (body.featured_media !== 0 && !context.media.some((item) => item.id === body.featured_media)) return { error: wpError(400, 'rest_invalid_featured_media', 'Invalid featured media ID.') };
    values.featured_media = body.featured_media as number;
  }
  return { values };
}

function termsRoute(context: Context, taxonomy: 'category' | 'post_tag'): FixtureResponse {
  const { request } = context;
  const ofTaxonomy = context.terms.filter((term) => term.taxonomy === taxonomy);
  const render = (term: WordPressTerm) => renderTerm(term, context.posts);
  if (context.id !== undefined) {
    const term = ofTaxonomy.find((candidate) => candidate.id === context.id);
    if (request.method === 'GET') {
      if (editContext(request) && !context.signedIn) return wpError(401, 'rest_forbidden_context', 'Sorry, you are not allowed to edit terms in this taxonomy.');
      return term ? { body: render(term) } : wpError(404, 'rest_term_invalid', 'Term does not exist.');
    }
    if (request.method !== 'DELETE') return noRoute();
    if (!context.signedIn) return wpError(401, 'rest_cannot_delete', 'Sorry, you are not allowed to delete this term.');
    if (!term) return wpError(404, 'rest_term_invalid', 'Term does not exist.');
    if (request.query.get('force') !== 'true') return wpError(501, 'rest_trash_not_supported', "Terms do not support trashing. Set 'force=true' to delete.");
    const previous = render(term);
    context.terms.splice(context.terms.indexOf(term), 1);
    // Deleting a term removes it from every post, as wp_delete_term does.
    const field = taxonomy === 'category' ? 'categories' : 'tags';
    for (const post of context.posts) post[field] = post[field].filter((id) => id !== term.id);
    return { body: { deleted: true, previous } };
  }
  if (request.method === 'GET') {
    const search = request.query.get('search')?.toLowerCase();
    const found = ofTaxonomy.filter((term) => search === undefined || term.name.toLowerCase().includes(search) || term.slug.includes(search)).sort((a, b) => a.name.localeCompare(b.name));
    return paged(request, found, render, 'rest_term_invalid_page_number');
  }
  if (request.method !== 'POST') return noRoute();
  if (!context.signedIn) return wpError(401, 'rest_cannot_create', 'Sorry, you are not allowed to create terms in this taxonomy.');
  const body = jsonBody(request);
  if (body === undefined) return wpError(400, 'rest_invalid_json', 'Invalid JSON body passed.');
  if (typeof body.name !== 'string' || body.name.trim() === '') return wpError(400, 'empty_term_name', 'A name is required for this term.');
  const name = body.name.trim();
  const existing = ofTaxonomy.find((term) => term.name.toLowerCase() === name.toLowerCase() || term.slug === slugify(name));
  if (existing) return { status: 400, body: { code: 'term_exists', message: 'A term with the name provided already exists with this parent.', data: { status: 400, term_id: existing.id } } };
  const term: WordPressTerm = { id: context.nextId(), name, slug: slugify(name), taxonomy };
  context.terms.push(term);
  return { status: 201, body: render(term) };
}

function mediaRoute(context: Context): FixtureResponse {
  const { request } = context;
  if (context.id !== undefined) {
    const item = context.media.find((candidate) => candidate.id === context.id);
    if (request.method === 'GET') return item ? { body: renderMedia(item, context.site) } : wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
    if (request.method !== 'DELETE') return noRoute();
    if (!context.signedIn) return wpError(401, 'rest_cannot_delete', 'Sorry, you are not allowed to delete this post.');
    if (!item) return wpError(404, 'rest_post_invalid_id', 'Invalid post ID.');
    if (request.query.get('force') !== 'true') return wpError(501, 'rest_trash_not_supported', 'Media does not support trashing. Set "force=true" to delete.');
    context.media.splice(context.media.indexOf(item), 1);
    return { body: { deleted: true, previous: renderMedia(item, context.site) } };
  }
  if (request.method !== 'POST') return noRoute();
  if (!context.signedIn) return wpError(401, 'rest_cannot_create', 'Sorry, you are not allowed to upload media on this site.');
  if (request.body.length === 0) return wpError(400, 'rest_upload_no_data', 'No data supplied.');
  const disposition = headerOf(request, 'content-disposition');
  if (disposition === undefined) return wpError(400, 'rest_upload_no_content_disposition', 'No Content-Disposition supplied.');
  const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1];
  if (filename === undefined) return wpError(400, 'rest_upload_invalid_disposition', 'Invalid Content-Disposition supplied. Content-Disposition needs to be formatted as `attachment; filename="image.png"` or similar.');
  const item: WordPressMedia = { id: context.nextId(), filename, mimeType: headerOf(request, 'content-type') ?? 'application/octet-stream', bytes: request.body.length };
  context.media.push(item);
  return { status: 201, headers: { location: `${context.site}${prefix}/media/${item.id}` }, body: renderMedia(item, context.site) };
}

/** One page of `items` with WordPress's pagination headers; a page past the end is an error, as in WordPress. */
function paged<T>(request: FixtureRequest, items: readonly T[], render: (item: T) => unknown, pageError: string): FixtureResponse {
  const perPage = Number(request.query.get('per_page') ?? '10');
  const page = Number(request.query.get('page') ?? '1');
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) return invalidParam('per_page', 'per_page must be between 1 (inclusive) and 100 (inclusive)');
  if (!Number.isInteger(page) || page < 1) return invalidParam('page', 'page must be greater than or equal to 1');
  const totalPages = Math.ceil(items.length / perPage);
  if (page > 1 && page > totalPages) return wpError(400, pageError, 'The page number requested is larger than the number of pages available.');
  return {
    headers: { 'x-wp-total': String(items.length), 'x-wp-totalpages': String(totalPages) },
    body: items.slice((page - 1) * perPage, page * perPage).map(render),
  };
}

/** A post as the REST API shows it; raw fields only in the `edit` context, which writes answer in (as WordPress does). */
function renderPost(post: WordPressPost, site: string, edit = false): Record<string, unknown> {
  const raw = (value: string) => (edit ? { raw: value } : {});
  return {
    id: post.id,
    date: post.date,
    modified: post.modified,
    slug: slugify(post.title),
    status: post.status,
    type: 'post',
    link: `${site}/?p=${post.id}`,
    title: { ...raw(post.title), rendered: escapeHtml(post.title) },
    content: { ...raw(post.content), rendered: post.content, protected: false },
    excerpt: { ...raw(post.excerpt), rendered: post.excerpt === '' ? '' : `<p>${post.excerpt}</p>\n`, protected: false },
    featured_media: post.featured_media,
    categories: post.categories,
    tags: post.tags,
  };
}

/** A term as the REST API shows it; `count` is its published posts, as WordPress counts them. */
function renderTerm(term: WordPressTerm, posts: readonly WordPressPost[]): Record<string, unknown> {
  const field = term.taxonomy === 'category' ? 'categories' : 'tags';
  const count = posts.filter((post) => post.status === 'publish' && post[field].includes(term.id)).length;
  return { id: term.id, name: escapeHtml(term.name), slug: term.slug, taxonomy: term.taxonomy, count };
}

function editContext(request: FixtureRequest): boolean {
  return request.query.get('context') === 'edit';
}

function renderMedia(item: WordPressMedia, site: string): Record<string, unknown> {
  return { id: item.id, media_type: item.mimeType.startsWith('image/') ? 'image' : 'file', mime_type: item.mimeType, source_url: `${site}/wp-content/uploads/${item.filename}`, title: { rendered: item.filename } };
}

function authenticate(request: FixtureRequest, users: Readonly<Record<string, string>>): 'anonymous' | 'ok' | 'invalid_username' | 'incorrect_password' {
  const header = headerOf(request, 'authorization');
  if (header === undefined || !header.startsWith('Basic ')) return 'anonymous';
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  const user = decoded.slice(0, separator);
  const password = decoded.slice(separator + 1);
  if (!(user in users)) return 'invalid_username';
  // WordPress strips the spaces it shows application passwords with.
  return users[user]?.replace(/ /g, '') === password.replace(/ /g, '') ? 'ok' : 'incorrect_password';
}

function jsonBody(request: FixtureRequest): Record<string, unknown> | undefined {
  if (request.body.length === 0) return {};
  try {
    const parsed = request.json();
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function headerOf(request: FixtureRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function wpError(status: number, code: string, message: string): FixtureResponse {
  return { status, body: { code, message, data: { status } } };
}

function invalidParam(param: string, message: string, status = 400): FixtureResponse {
  return { status, body: { code: 'rest_invalid_param', message: `Invalid parameter(s): ${param}`, data: { status, params: { [param]: message } } } };
}

function noRoute(): FixtureResponse {
  return wpError(404, 'rest_no_route', 'No route was found matching the URL and request method.');
}

function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/&/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#039;');
}
