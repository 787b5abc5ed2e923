import { posix } from 'node:path';
import { z } from 'zod';
import { HandlerError } from '../handler-error';
import type { HandlerHttpClient, HandlerHttpMethod, HandlerHttpResponse } from '../http/handler-http-client';

/** The taxonomies posts are filed under, by REST collection. */
export type WordPressTaxonomy = 'categories' | 'tags';

/** The fields of a post the handler writes. */
export interface WordPressPostFields {
  readonly title: string;
  readonly content: string;
  readonly excerpt?: string;
  readonly status: string;
  readonly categories: readonly number[];
  readonly tags: readonly number[];
  readonly featured_media?: number;
}

/** What the handler reads back from a post. */
export interface WordPressPostRef {
  readonly id: number;
  readonly link: string;
}

/** A post as read in the `edit` context: its raw writable fields and when it last changed. */
export interface WordPressPostState extends WordPressPostRef {
  readonly modified: string;
  readonly fields: WordPressPostFields;
}

/** A term as read back. */
export interface WordPressTermState {
  readonly id: number;
  readonly name: string;
  readonly count: number;
}

/** The most pages of term search results read before creating the term. */
const maxTermPages = 10;

const errorBodySchema = z.object({ code: z.string(), message: z.string(), data: z.object({ term_id: z.number().optional() }).loose().optional() });
const renderedSchema = z.object({ raw: z.string().optional(), rendered: z.string() });
const postSchema = z
  .object({
    id: z.number(),
    link: z.string(),
    modified: z.string(),
    status: z.string(),
    title: renderedSchema,
    content: renderedSchema,
    excerpt: renderedSchema,
    categories: z.array(z.number()).default([]),
    tags: z.array(z.number()).default([]),
    featured_media: z.number().default(0),
  })
  .transform(
    (post): WordPressPostState => ({
      id: post.id,
      link: post.link,
      modified: post.modified,
      // The edit context sends raw fields; the rendered ones are a fallback for a site that leaves them out.
      fields: {
        title: post.title.raw ?? post.title.rendered,
        content: post.content.raw ?? post.content.rendered,
        excerpt: post.excerpt.raw ?? post.excerpt.rendered,
        status: post.status,
        categories: post.categories,
        tags: post.tags,
        featured_media: post.featured_media,
      },
    }),
  );
const termSchema = z.object({ id: z.number(), name: z.string() });
const termStateSchema = z.object({ id: z.number(), name: z.string(), count: z.number().default(0) });
const mediaSchema = z.object({ id: z.number() });

/** Talks to one site's `/wp-json/wp/v2` as one user; every failure is a HandlerError carrying WordPress's error code. */
export class WordPressClient {
  readonly #http: HandlerHttpClient;
  readonly #api: string;
  readonly #authorization: string;
  readonly #signal: AbortSignal;
  readonly #timeoutMs: number;

  constructor(options: { http: HandlerHttpClient; siteUrl: string; username: string; password: string; signal: AbortSignal; timeoutMs: number }) {
    this.#http = options.http;
    this.#api = `${options.siteUrl.replace(/\/+$/, '')}/wp-json/wp/v2`;
    this.#authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    this.#signal = options.signal;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Creates a post; WordPress answers a write in the edit context, so the state comes back with it. */
  async createPost(fields: WordPressPostFields): Promise<WordPressPostState> {
    return postSchema.parse((await this.#call('POST', '/posts', fields)).json());
  }

  /** Updates post `id`; undefined when WordPress no longer has it (deleted since). */
  async updatePost(id: string, fields: WordPressPostFields): Promise<WordPressPostState | undefined> {
    return this.#unlessGone(async () => postSchema.parse((await this.#call('POST', `/posts/${encodeURIComponent(id)}`, fields)).json()), 'rest_post_invalid_id');
  }

  /** Post `id` in the edit context (raw fields); undefined when WordPress no longer has it. */
  async getPost(id: string): Promise<WordPressPostState | undefined> {
    return this.#unlessGone(async () => postSchema.parse((await this.#call('GET', `/posts/${encodeURIComponent(id)}?context=edit`)).json()), 'rest_post_invalid_id');
  }

  /** Deletes post `id` for good (not to the trash); false when it was gone already. */
  async deletePost(id: string): Promise<boolean> {
    return (await this.#unlessGone(async () => (await this.#call('DELETE', `/posts/${encodeURIComponent(id)}?force=true`), true), 'rest_post_invalid_id')) ?? false;
  }

  /** Term `id` of `taxonomy`; undefined when it is gone. */
  async getTerm(taxonomy: WordPressTaxonomy, id: number): Promise<WordPressTermState | undefined> {
    const term = await this.#unlessGone(async () => termStateSchema.parse((await this.#call('GET', `/${taxonomy}/${id}?context=edit`)).json()), 'rest_term_invalid');
    return term === undefined ? undefined : { ...term, name: unescapeHtml(term.name) };
  }

  /** Deletes term `id` (terms have no trash); false when it was gone already. */
  async deleteTerm(taxonomy: WordPressTaxonomy, id: number): Promise<boolean> {
    return (await this.#unlessGone(async () => (await this.#call('DELETE', `/${taxonomy}/${id}?force=true`), true), 'rest_term_invalid')) ?? false;
  }

  /** Deletes media item `id` (media has no trash); false when it was gone already. */
  async deleteMedia(id: number): Promise<boolean> {
    return (await this.#unlessGone(async () => (await this.#call('DELETE', `/media/${id}?force=true`), true), 'rest_post_invalid_id')) ?? false;
  }

  async #unlessGone<T>(work: () => Promise<T>, goneCode: string): Promise<T | undefined> {
    try {
      return await work();
    } catch (error) {
      if (HandlerError.isInstance(error) && error.details?.wordpressCode === goneCode) return undefined;
      throw error;
    }
  }

  /** Checks the credentials can list drafts, which needs a signed-in user. */
  async checkAccess(): Promise<void> {
    await this.#call('GET', '/posts?status=draft&per_page=1');
  }

  /**
   * The id of the term named `name` (compared case-insensitively, after
   * undoing WordPress's HTML escaping of names), created when missing. A
   * creation that loses a race gets `term_exists` with the winner's id.
   * `created` tells whether this call made it.
   */
  async termId(taxonomy: WordPressTaxonomy, name: string): Promise<{ readonly id: number; readonly created: boolean }> {
    const wanted = name.trim().toLowerCase();
    for (let page = 1; page <= maxTermPages; page += 1) {
      const response = await this.#call('GET', `/${taxonomy}?search=${encodeURIComponent(name.trim())}&per_page=100&page=${page}`);
      const found = z.array(termSchema).parse(response.json()).find((term) => unescapeHtml(term.name).toLowerCase() === wanted);
      if (found) return { id: found.id, created: false };
      if (page >= Number(response.headers['x-wp-totalpages'] ?? '1')) break;
    }
    try {
      return { id: termSchema.parse((await this.#call('POST', `/${taxonomy}`, { name: name.trim() })).json()).id, created: true };
    } catch (error) {
      const existing = HandlerError.isInstance(error) && error.details?.wordpressCode === 'term_exists' ? error.details.termId : undefined;
      if (typeof existing === 'number') return { id: existing, created: false };
      throw error;
    }
  }

  /** Uploads `image` (downloaded by the caller) to the media library; returns its id. */
  async uploadMedia(image: HandlerHttpResponse): Promise<number> {
    const filename = posix.basename(new URL(image.url).pathname).replace(/[^A-Za-z0-9._-]/g, '') || 'image';
    const response = await this.#call('POST', '/media', image.body, {
      'content-type': image.headers['content-type'] ?? 'application/octet-stream',
      'content-disposition': `attachment; filename="${filename}"`,
    });
    return mediaSchema.parse(response.json()).id;
  }

  async #call(method: HandlerHttpMethod, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HandlerHttpResponse> {
    const raw = body instanceof Uint8Array;
    const response = await this.#http.request({
      url: `${this.#api}${path}`,
      method,
      signal: this.#signal,
      timeoutMs: this.#timeoutMs,
      headers: { authorization: this.#authorization, accept: 'application/json', ...(body === undefined || raw ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    if (response.status >= 400) throw wordpressError(response, method, path);
    return response;
  }
}

/** A WordPress error as a HandlerError: 4xx permanent, 5xx retryable, WordPress's own code in `details.wordpressCode`. */
function wordpressError(response: HandlerHttpResponse, method: string, path: string): HandlerError {
  let parsed: z.infer<typeof errorBodySchema> | undefined;
  try {
    const result = errorBodySchema.safeParse(response.json());
    parsed = result.success ? result.data : undefined;
  } catch {
    parsed = undefined;
  }
  const details = { status: response.status, wordpressCode: parsed?.code ?? null, remote: parsed?.message ?? response.text().slice(0, 500), termId: parsed?.data?.term_id };
  const what = `WordPress answered ${method} ${path.split('?')[0]} with ${response.status}${parsed ? ` ${parsed.code}: ${parsed.message}` : ''}`;
  return response.status < 500
    ? new HandlerError('handler.remote_rejected', what, false, { details })
    : new HandlerError('handler.remote_failed', what, true, { details });
}

const entities: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#039;': "'", '&#39;': "'" };

/** Undoes `esc_html`, which WordPress applies to term names in REST responses. */
function unescapeHtml(text: string): string {
  return text.replace(/&(?:amp|lt|gt|quot|#0?39);/g, (entity) => entities[entity] ?? entity);
}
