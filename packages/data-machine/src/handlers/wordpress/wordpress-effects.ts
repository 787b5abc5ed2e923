import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { HandlerContext } from '../handler';
import type { RecordedHandlerEffect, RevertOutcome } from '../handler-effect';
import { HandlerError } from '../handler-error';
import type { WordPressClient, WordPressPostFields, WordPressPostState, WordPressTaxonomy } from './wordpress-client';

/** The effects the WordPress handler records, by kind. */
export const wordpressEffectKinds = {
  postCreated: 'wordpress_post_created',
  postUpdated: 'wordpress_post_updated',
  termCreated: 'wordpress_term_created',
  mediaUploaded: 'wordpress_media_uploaded',
} as const;

/**
 * A fingerprint of a post's writable fields, taken right after our write.
 * With `modified` it tells a later edit by someone else: WordPress's
 * `modified` has one-second precision, so two writes in one second need
 * the hash to differ.
 */
export function postFingerprint(post: WordPressPostState): { readonly modified: string; readonly hash: string } {
  return { modified: post.modified, hash: fieldsHash(post.fields) };
}

function fieldsHash(fields: WordPressPostFields): string {
  const { title, content, excerpt = '', status, categories, tags, featured_media: featuredMedia = 0 } = fields;
  return createHash('sha256').update(JSON.stringify([title, content, excerpt, status, categories, tags, featuredMedia])).digest('hex');
}

/** Records a post this job created. */
export function recordPostCreated(call: HandlerContext, siteUrl: string, post: WordPressPostState): Promise<void> {
  return record(call, { kind: wordpressEffectKinds.postCreated, ref: `post:${post.id}`, reversible: true, undo: { siteUrl, postId: post.id, link: post.link }, after: postFingerprint(post) });
}

/** Records an update of a post, before it is sent: the previous values (kept from the first record), and after it: the state we left. */
export function recordPostUpdated(call: HandlerContext, siteUrl: string, before: WordPressPostState, after?: WordPressPostState): Promise<void> {
  return record(call, {
    kind: wordpressEffectKinds.postUpdated,
    ref: `post:${before.id}`,
    reversible: true,
    undo: { siteUrl, postId: before.id, link: before.link, previous: before.fields },
    ...(after === undefined ? {} : { after: postFingerprint(after) }),
  });
}

/** Records a term this job created. */
export function recordTermCreated(call: HandlerContext, siteUrl: string, taxonomy: WordPressTaxonomy, id: number, name: string): Promise<void> {
  return record(call, { kind: wordpressEffectKinds.termCreated, ref: `${taxonomy}:${id}`, reversible: true, undo: { siteUrl, taxonomy, termId: id, name } });
}

/** Records a media item this job uploaded. */
export function recordMediaUploaded(call: HandlerContext, siteUrl: string, id: number): Promise<void> {
  return record(call, { kind: wordpressEffectKinds.mediaUploaded, ref: `media:${id}`, reversible: true, undo: { siteUrl, mediaId: id } });
}

async function record(call: HandlerContext, effect: Parameters<NonNullable<HandlerContext['effects']>['record']>[0]): Promise<void> {
  await call.effects?.record(effect);
}

const fingerprintSchema = z.object({ modified: z.string(), hash: z.string() });
const postFieldsSchema = z.object({
  title: z.string(),
  content: z.string(),
  excerpt: z.string().optional(),
  status: z.string(),
  categories: z.array(z.number()),
  tags: z.array(z.number()),
  featured_media: z.number().optional(),
});
const undoSchemas = {
  [wordpressEffectKinds.postCreated]: z.object({ postId: z.number() }),
  [wordpressEffectKinds.postUpdated]: z.object({ postId: z.number(), previous: postFieldsSchema }),
  [wordpressEffectKinds.termCreated]: z.object({ taxonomy: z.enum(['categories', 'tags']), termId: z.number(), name: z.string() }),
  [wordpressEffectKinds.mediaUploaded]: z.object({ mediaId: z.number() }),
} as const;

/** The site an effect was made on: where its revert goes, whatever the flow points at now. */
export function effectSiteUrl(effect: RecordedHandlerEffect, fallback: string): string {
  const site = effect.undo.siteUrl;
  return typeof site === 'string' ? site : fallback;
}

/**
 * Reverses one WordPress effect: a created post is deleted for good, an
 * updated post gets its previous fields back, a created term or uploaded
 * media item is deleted. Each compares first: a post edited since our write
 * (another `modified` or fields), a renamed or used term, is `skipped`;
 * what is gone already is `skipped` / `already_gone`.
 */
export async function revertWordPressEffect(wordpress: WordPressClient, effect: RecordedHandlerEffect): Promise<RevertOutcome> {
  try {
    switch (effect.kind) {
      case wordpressEffectKinds.postCreated: {
        const { postId } = undoSchemas[effect.kind].parse(effect.undo);
        const current = await wordpress.getPost(String(postId));
        if (current === undefined) return gone(`post ${postId}`);
        const changed = changedSince(effect, current);
        if (changed !== undefined) return changed;
        return (await wordpress.deletePost(String(postId))) ? { status: 'reverted' } : gone(`post ${postId}`);
      }
      case wordpressEffectKinds.postUpdated: {
        const { postId, previous } = undoSchemas[effect.kind].parse(effect.undo);
        const current = await wordpress.getPost(String(postId));
        if (current === undefined) return gone(`post ${postId}`);
        // Already as it was (a re-delivered undo that restored it, or an update that changed nothing).
        if (fieldsHash(current.fields) === fieldsHash(previous)) return { status: 'reverted' };
        const changed = changedSince(effect, current);
        if (changed !== undefined) return changed;
        return (await wordpress.updatePost(String(postId), previous)) === undefined ? gone(`post ${postId}`) : { status: 'reverted' };
      }
      case wordpressEffectKinds.termCreated: {
        const { taxonomy, termId, name } = undoSchemas[effect.kind].parse(effect.undo);
        const current = await wordpress.getTerm(taxonomy, termId);
        if (current === undefined) return gone(`term ${termId}`);
        if (current.name.toLowerCase() !== name.toLowerCase()) return { status: 'skipped', reason: 'changed_remotely', message: `The term ${termId} was renamed to "${current.name}" since.` };
        if (current.count > 0) return { status: 'skipped', reason: 'in_use', message: `The term "${name}" is used by ${current.count} post(s).` };
        return (await wordpress.deleteTerm(taxonomy, termId)) ? { status: 'reverted' } : gone(`term ${termId}`);
      }
      case wordpressEffectKinds.mediaUploaded: {
        const { mediaId } = undoSchemas[effect.kind].parse(effect.undo);
        return (await wordpress.deleteMedia(mediaId)) ? { status: 'reverted' } : gone(`media item ${mediaId}`);
      }
      default:
        return { status: 'skipped', reason: 'not_reversible', message: `The WordPress handler does not know how to reverse "${effect.kind}".` };
    }
  } catch (error) {
    if (HandlerError.isInstance(error)) return { status: 'failed', error: { code: error.code, message: error.message } };
    if (error instanceof z.ZodError) return { status: 'failed', error: { code: 'handler.invalid_response', message: `The effect or WordPress's answer is not what the handler expects: ${error.issues[0]?.message ?? 'invalid'}.` } };
    throw error;
  }
}

/** `skipped` when the post is no longer as our write left it; undefined when it is. */
function changedSince(effect: RecordedHandlerEffect, current: WordPressPostState): RevertOutcome | undefined {
  const after = fingerprintSchema.safeParse(effect.after);
  // No state after the write: it may or may not have happened, so nothing is safe to overwrite.
  if (!after.success) return { status: 'skipped', reason: 'state_unknown', message: `The state of post ${current.id} after the publish was never recorded.` };
  const now = postFingerprint(current);
  if (now.modified === after.data.modified && now.hash === after.data.hash) return undefined;
  return { status: 'skipped', reason: 'changed_remotely', message: `Post ${current.id} was changed on the site since it was published (modified ${now.modified}).` };
}

function gone(what: string): RevertOutcome {
  return { status: 'skipped', reason: 'already_gone', message: `The ${what} is no longer on the site.` };
}
