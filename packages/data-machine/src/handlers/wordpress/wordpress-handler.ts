import { z } from 'zod';
import type { DataMachineContext } from '../../context';
import type { HandlerContext, PublishHandler, PublishRequest, PublishResult } from '../handler';
import { HandlerError } from '../handler-error';
import { withCallHttp } from '../http/call-http';
import type { HandlerHttpClient } from '../http/handler-http-client';
import { throwForStatus } from '../http/throw-for-status';
import { bindRemoteIdentity, releaseRemoteIdentity, reserveRemoteIdentity, type RemoteIdentityKey } from '../identities/remote-identities';
import { requireSecret } from '../internal/require-secret';
import { WordPressClient, type WordPressPostFields, type WordPressPostState } from './wordpress-client';
import { effectSiteUrl, recordMediaUploaded, recordPostCreated, recordPostUpdated, recordTermCreated, revertWordPressEffect } from './wordpress-effects';

const postStatuses = ['publish', 'draft', 'pending', 'private'] as const;
const termName = z.string().trim().min(1).max(200);

/** The configuration of `wordpress`: the site, the user (its application password is the flow's secret), and defaults for every post. */
export const wordpressConfigSchema = z.strictObject({
  siteUrl: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1).max(60),
  status: z.enum(postStatuses).default('draft'),
  /** Category names every post is filed under, created when missing. */
  categories: z.array(termName).max(20).default([]),
  /** Tag names every post gets, created when missing. */
  tags: z.array(termName).max(50).default([]),
  timeoutMs: z.int().min(100).max(120_000).default(20_000),
});
export type WordPressConfig = z.infer<typeof wordpressConfigSchema>;

/** What a `wordpress` publish step reads (the previous step's output): the post, with optional extra terms and a featured image URL. */
export const wordpressPostInputSchema = z.object({
  title: z.string().min(1).max(1000),
  content: z.string().max(1_000_000),
  excerpt: z.string().max(10_000).optional(),
  status: z.enum(postStatuses).optional(),
  categories: z.array(termName).max(20).optional(),
  tags: z.array(termName).max(50).optional(),
  featuredImageUrl: z.url({ protocol: /^https?$/ }).optional(),
});
export type WordPressPostInput = z.infer<typeof wordpressPostInputSchema>;

const slug = 'wordpress';

/**
 * A publish handler that creates or updates a post on a WordPress site
 * through its REST API, with application-password basic auth (the password
 * is the flow's secret). Category and tag names become ids (created when
 * missing); a featured image URL is downloaded through the guarded HTTP
 * client and uploaded to the media library.
 *
 * The post is found again through `dm_remote_identities`: the item key
 * (`request.itemKey`, set by upsert steps) or else the idempotency key maps
 * to the post id. The identity is reserved in the database before the post
 * is created, so two jobs racing on one item create one post; the loser gets
 * `handler.identity_busy` (retryable) and updates the post on its retry.
 *
 * @example
 * const wordpress = createWordPressHandler(context);
 */
export function createWordPressHandler(context: DataMachineContext): PublishHandler<WordPressConfig> {
  return {
    kind: 'publish',
    slug,
    description: 'Creates or updates a WordPress post through the REST API, terms by name, featured image from a URL.',
    configSchema: wordpressConfigSchema,
    secretName: 'wordpress_application_password',
    async publish(request, config, call) {
      const input = parsePostInput(request.body);
      const password = requireSecret(call, slug);
      const identity: RemoteIdentityKey = { handler: slug, target: siteOf(config), key: request.itemKey ?? request.idempotencyKey };
      const reservation = await reserveRemoteIdentity(context, call, identity, request.idempotencyKey);
      if (reservation.status === 'busy') {
        throw new HandlerError('handler.identity_busy', `Another publish of "${identity.key}" to ${identity.target} is in progress; retry once it has finished.`, true, {
          details: { key: identity.key, reservedBy: reservation.reservedBy },
        });
      }
      return withCallHttp(call, async (http) => {
        const wordpress = new WordPressClient({ http, siteUrl: config.siteUrl, username: config.username, password, signal: call.signal, timeoutMs: config.timeoutMs });
        if (reservation.status === 'bound') {
          const fields = await postFields(wordpress, http, config, input, call);
          const before = await wordpress.getPost(reservation.remoteId);
          if (before !== undefined) {
            // The previous values are recorded before the write, so a crash after it still leaves them to restore.
            await recordPostUpdated(call, identity.target, before);
            const updated = await wordpress.updatePost(reservation.remoteId, fields);
            if (updated) {
              await recordPostUpdated(call, identity.target, before, updated);
              return { id: String(updated.id), created: false, url: updated.link };
            }
          }
          // The post was deleted on the site since: publish it again and remember the new one.
          call.logger.warn({ key: identity.key, postId: reservation.remoteId }, 'the stored WordPress post is gone; creating it again');
          return create(context, call, identity, request, () => wordpress.createPost(fields), true);
        }
        return create(context, call, identity, request, async () => wordpress.createPost(await postFields(wordpress, http, config, input, call)), false);
      });
    },
    async revert(effect, config, call) {
      const password = requireSecret(call, slug);
      return withCallHttp(call, (http) =>
        revertWordPressEffect(new WordPressClient({ http, siteUrl: effectSiteUrl(effect, siteOf(config)), username: config.username, password, signal: call.signal, timeoutMs: config.timeoutMs }), effect),
      );
    },
    async testConnection(config, call) {
      try {
        await withCallHttp(call, (http) => new WordPressClient({ http, siteUrl: config.siteUrl, username: config.username, password: requireSecret(call, slug), signal: call.signal, timeoutMs: config.timeoutMs }).checkAccess());
        return { ok: true };
      } catch (error) {
        if (HandlerError.isInstance(error)) return { ok: false, message: error.message };
        throw error;
      }
    },
  };
}

/** Creates the post under a held reservation and binds it; a permanent refusal releases the reservation so a fixed input can try again. */
async function create(
  context: DataMachineContext,
  call: HandlerContext,
  identity: RemoteIdentityKey,
  request: PublishRequest,
  createPost: () => Promise<WordPressPostState>,
  rebinding: boolean,
): Promise<PublishResult> {
  let post: WordPressPostState;
  try {
    post = await createPost();
  } catch (error) {
    // A retryable failure (a timeout) may have created the post: keep the reservation, the retry of this publish takes it over.
    if (!rebinding && HandlerError.isInstance(error) && !error.retryable) await releaseRemoteIdentity(context, call, identity, request.idempotencyKey);
    throw error;
  }
  await recordPostCreated(call, identity.target, post);
  await bindRemoteIdentity(context, call, identity, String(post.id));
  return { id: String(post.id), created: true, url: post.link };
}

async function postFields(wordpress: WordPressClient, http: HandlerHttpClient, config: WordPressConfig, input: WordPressPostInput, call: HandlerContext): Promise<WordPressPostFields> {
  const categories = await termIds(wordpress, call, siteOf(config), 'categories', [...config.categories, ...(input.categories ?? [])]);
  const tags = await termIds(wordpress, call, siteOf(config), 'tags', [...config.tags, ...(input.tags ?? [])]);
  let featuredMedia: number | undefined;
  if (input.featuredImageUrl !== undefined) {
    const image = await http.request({ url: input.featuredImageUrl, signal: call.signal, timeoutMs: config.timeoutMs });
    throwForStatus(image, 'The featured image server');
    featuredMedia = await wordpress.uploadMedia(image);
    await recordMediaUploaded(call, siteOf(config), featuredMedia);
  }
  return {
    title: input.title,
    content: input.content,
    ...(input.excerpt === undefined ? {} : { excerpt: input.excerpt }),
    status: input.status ?? config.status,
    categories,
    tags,
    ...(featuredMedia === undefined ? {} : { featured_media: featuredMedia }),
  };
}

/** Term ids for `names`, once per name (case-insensitive, first spelling wins), in order. */
async function termIds(wordpress: WordPressClient, call: HandlerContext, siteUrl: string, taxonomy: 'categories' | 'tags', names: readonly string[]): Promise<number[]> {
  const unique = new Map<string, string>();
  for (const name of names) if (!unique.has(name.trim().toLowerCase())) unique.set(name.trim().toLowerCase(), name.trim());
  const ids: number[] = [];
  // One at a time: creating terms in parallel would race each other on the site.
  for (const name of unique.values()) {
    const term = await wordpress.termId(taxonomy, name);
    if (term.created) await recordTermCreated(call, siteUrl, taxonomy, term.id, name);
    ids.push(term.id);
  }
  return ids;
}

/** The site URL without trailing slashes: how effects and identities name the site. */
function siteOf(config: WordPressConfig): string {
  return config.siteUrl.replace(/\/+$/, '');
}

function parsePostInput(body: unknown): WordPressPostInput {
  const parsed = wordpressPostInputSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new HandlerError('handler.invalid_input', `The step input is not a WordPress post: ${issues.map((issue) => `${issue.path || '(input)'}: ${issue.message}`).join('; ')}.`, false, {
    details: { issues },
  });
}
