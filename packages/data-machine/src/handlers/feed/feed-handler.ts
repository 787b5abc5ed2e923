import { parseFeed } from '@rowanmanning/feed-parser';
import { z } from 'zod';
import type { FetchedItem } from '../../steps/step';
import type { FetchHandler, HandlerContext } from '../handler';
import { HandlerError } from '../handler-error';
import { withCallHttp } from '../http/call-http';
import type { HandlerHttpResponse } from '../http/handler-http-client';
import { throwForStatus } from '../http/throw-for-status';
import type { HandlerStateStore } from '../state/handler-state-store';
import type { ItemProgress } from '../state/item-progress';

/** The configuration of `rss`: the feed, how many of its items to read, and an optional fixed watermark. */
export const feedConfigSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  /** The most items read from the feed per run, in feed order. */
  maxItems: z.int().min(1).max(500).default(50),
  /** Items dated at or before this are never yielded (a flow started today skips the archive). */
  since: z.iso.datetime({ offset: true }).optional(),
});
export type FeedConfig = z.infer<typeof feedConfigSchema>;

/** One feed entry as a fetch yields it: strings decoded (entities, CDATA), dates ISO 8601 or null when absent or unparseable. */
export interface FeedItemData {
  readonly id: string | null;
  readonly title: string | null;
  readonly url: string | null;
  readonly content: string | null;
  readonly summary: string | null;
  readonly published: string | null;
  readonly updated: string | null;
  readonly authors: readonly string[];
  readonly categories: readonly string[];
  readonly image: string | null;
  readonly feed: { readonly title: string | null; readonly url: string | null };
}

/** What the feed handler remembers per flow step: the conditional GET validators and the date up to which every item is done. */
const feedStateSchema = z.object({
  etag: z.string().optional(),
  lastModified: z.string().optional(),
  watermark: z.iso.datetime({ offset: true }).optional(),
});
type FeedState = z.infer<typeof feedStateSchema>;

/** Options of {@link createFeedHandler}. */
export interface FeedHandlerOptions {
  /** Where validators and the watermark are kept between runs; without one every run is a full, unfiltered read. */
  readonly state?: HandlerStateStore;
  /**
   * Which yielded items a job has completed. With it, the watermark moves
   * only past completed items and the validators are kept only when every
   * item the feed offered is done, so an item whose job failed comes back on
   * the next run. Without it the state moves as soon as the fetch returns
   * (an item whose job fails is not offered again).
   */
  readonly items?: ItemProgress;
}

const slug = 'rss';

/**
 * A fetch handler for RSS 2.0, RSS 0.9/1.0 (RDF) and Atom feeds, parsed by
 * `@rowanmanning/feed-parser`. Each entry's key is its guid (Atom `id`),
 * else its link; an entry with neither is skipped. With a state store it
 * sends `If-None-Match` / `If-Modified-Since` (a 304 yields nothing) and
 * yields only entries dated after its watermark; an undated entry (or one
 * with a bad date) is always yielded and left to the processed-items
 * de-duplication. With `items`, the watermark is the newest date up to
 * which every entry is done, and the validators are kept only once nothing
 * the feed offers is left undone: an entry whose job failed is offered again. A document that is not a feed is
 * `handler.feed_invalid` with the parser's reason.
 *
 * @example
 * const rss = createFeedHandler({ state: createHandlerStateStore(context), items: createItemProgress(context) });
 */
export function createFeedHandler(options: FeedHandlerOptions = {}): FetchHandler<FeedConfig> {
  return {
    kind: 'fetch',
    slug,
    description: 'Items of an RSS or Atom feed, keyed by guid or link, newer than the last run.',
    configSchema: feedConfigSchema,
    async fetch(config, call) {
      const state = await readState(options.state, call);
      const response = await withCallHttp(call, (http) =>
        http.request({
          url: config.url,
          signal: call.signal,
          headers: {
            accept: 'application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1',
            ...(state.etag === undefined ? {} : { 'if-none-match': state.etag }),
            ...(state.lastModified === undefined ? {} : { 'if-modified-since': state.lastModified }),
          },
        }),
      );
      if (response.status === 304) {
        call.logger.debug({ url: config.url }, 'feed not modified since the last run');
        return [];
      }
      throwForStatus(response, 'The feed server');
      const entries = parseEntries(response, config.url).slice(0, config.maxItems);
      const watermark = latest([config.since, state.watermark]);
      const items = entries.filter((entry) => entry.date === undefined || watermark === undefined || entry.date > watermark);
      const skipped = entries.filter((entry) => entry.key === undefined).length;
      if (skipped > 0) call.logger.warn({ url: config.url, skipped }, 'feed entries without guid or link were skipped');
      const done = options.state && options.items ? await options.items.done(call, keysOf(items)) : undefined;
      await options.state?.write(call, slug, nextState(state, response, items, done));
      // Items a job completed are left out here rather than by the claim: the fetch yields only what is left to do.
      return items.flatMap((entry): FetchedItem[] => (entry.key === undefined || done?.has(entry.key) ? [] : [{ sourceKey: entry.key, data: entry.data }]));
    },
    async testConnection(config, call) {
      try {
        const response = await withCallHttp(call, (http) => http.request({ url: config.url, signal: call.signal }));
        throwForStatus(response, 'The feed server');
        parseEntries(response, config.url);
        return { ok: true };
      } catch (error) {
        if (HandlerError.isInstance(error)) return { ok: false, message: error.message };
        throw error;
      }
    },
  };
}

interface Entry {
  readonly key: string | undefined;
  /** ISO 8601, for comparing with the watermark. */
  readonly date: string | undefined;
  readonly data: FeedItemData;
}

function parseEntries(response: HandlerHttpResponse, url: string): Entry[] {
  let feed: ReturnType<typeof parseFeed>;
  try {
    feed = parseFeed(response.text());
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HandlerError('handler.feed_invalid', `${url} is not a readable RSS or Atom feed: ${reason}`, false, { details: { url, reason }, cause: error });
  }
  const source = { title: feed.title, url: feed.url };
  return feed.items.map((item) => {
    const published = isoOrNull(item.published);
    const updated = isoOrNull(item.updated);
    return {
      key: nonEmpty(item.id) ?? nonEmpty(item.url),
      date: published ?? updated ?? undefined,
      data: {
        id: item.id,
        title: item.title,
        url: item.url,
        content: item.content ?? item.description,
        summary: item.description,
        published,
        updated,
        authors: item.authors.map((author) => author.name ?? author.email ?? '').filter((name) => name.length > 0),
        categories: item.categories.map((category) => category.label ?? category.term),
        image: item.image?.url ?? null,
        feed: source,
      },
    };
  });
}

async function readState(store: HandlerStateStore | undefined, call: HandlerContext): Promise<FeedState> {
  if (!store) return {};
  // A state written by another version of this handler is ignored rather than trusted.
  const parsed = feedStateSchema.safeParse(await store.read(call, slug));
  return parsed.success ? parsed.data : {};
}

/**
 * The state after a read that offered `offered`. Without `done` (no item
 * progress), everything offered counts as done. With it: the watermark
 * moves to the newest date strictly before the oldest undone dated entry,
 * and the validators are kept only when no keyed entry is undone (a 304
 * would otherwise hide an entry whose job failed).
 */
function nextState(previous: FeedState, response: HandlerHttpResponse, offered: readonly Entry[], done: ReadonlySet<string> | undefined): FeedState {
  const keyed = offered.filter((entry) => entry.key !== undefined);
  const undone = done === undefined ? [] : keyed.filter((entry) => !done.has(entry.key as string));
  const oldestUndone = undone.reduce<number | undefined>((oldest, entry) => (entry.date === undefined ? oldest : Math.min(oldest ?? Infinity, Date.parse(entry.date))), undefined);
  const passed = keyed.filter((entry) => entry.date !== undefined && (oldestUndone === undefined || Date.parse(entry.date) < oldestUndone));
  const watermark = latest([previous.watermark, ...passed.map((entry) => entry.date)]);
  const etag = undone.length === 0 ? response.headers.etag : undefined;
  const lastModified = undone.length === 0 ? response.headers['last-modified'] : undefined;
  return {
    ...(etag === undefined ? {} : { etag }),
    ...(lastModified === undefined ? {} : { lastModified }),
    ...(watermark === undefined ? {} : { watermark }),
  };
}

function keysOf(entries: readonly Entry[]): string[] {
  return entries.flatMap((entry) => (entry.key === undefined ? [] : [entry.key]));
}

/** The latest of ISO 8601 instants, compared as instants (offsets differ between feeds). */
function latest(dates: readonly (string | undefined)[]): string | undefined {
  let best: string | undefined;
  for (const date of dates) {
    if (date === undefined) continue;
    if (best === undefined || Date.parse(date) > Date.parse(best)) best = new Date(date).toISOString();
  }
  return best;
}

function isoOrNull(date: Date | null): string | null {
  return date !== null && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
}

function nonEmpty(value: string | null): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
