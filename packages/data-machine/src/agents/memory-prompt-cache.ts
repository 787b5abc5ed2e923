import type { MemoryPromptTarget } from '@data-machine/agents-api';
import { createChangeFedStore, lifecycleOf, type ChangeFedCache } from '../internal/change-fed-cache';

/**
 * The memory part of agents' system prompts, composed once and kept between
 * turns in one process, emptied by the database's change feed
 * (`dm_memory_changed`, migration 0023) and by this process's own writes.
 * Used only while the host's listener listens (see {@link ChangeFedCache});
 * one cache per memory store. See docs/decisions/2026-12-01-chat-first-byte.md.
 */
export interface MemoryPromptCache extends ChangeFedCache {
  /** The prompt for `target`: cached, or composed by `compose` (and kept when no change arrived meanwhile). */
  read(target: MemoryPromptTarget, compose: () => Promise<string>): Promise<string>;
}

/** Options of {@link createMemoryPromptCache}. */
export interface MemoryPromptCacheOptions {
  /** Prompts held at most; the least recently used goes first. Default 2,000. */
  readonly maxEntries?: number;
  /** The most characters the prompts may hold together; default 8,000,000 (a prompt is at most 24,000 unless its composer is told otherwise). */
  readonly maxChars?: number;
  /** A prompt older than this is composed again (a belt beside the change feed). Default 30 s. */
  readonly maxAgeMs?: number;
  /** The clock of the maximum age; default `Date.now`. */
  readonly now?: () => number;
}

/**
 * A bounded, least-recently-used {@link MemoryPromptCache}, inactive until its
 * change feed calls `resume`.
 *
 * @example
 * const memoryPromptCache = createMemoryPromptCache();
 * const context = createDataMachineContext({ db, memoryPromptCache });
 * // the host's listener: LISTEN dm_memory_changed, then memoryPromptCache.resume(); each notification: invalidate()
 */
export function createMemoryPromptCache(options: MemoryPromptCacheOptions = {}): MemoryPromptCache {
  const prompts = createChangeFedStore<string>({
    maxEntries: options.maxEntries ?? 2_000,
    maxAgeMs: options.maxAgeMs ?? 30_000,
    now: options.now,
    weight: { of: (prompt) => prompt.length, max: options.maxChars ?? 8_000_000 },
  });
  return Object.assign(lifecycleOf(prompts), {
    // JSON of a fixed field order: no separator a value could contain can make two keys collide.
    read: (target: MemoryPromptTarget, compose: () => Promise<string>) => prompts.read(JSON.stringify([target.tenantId, target.agentSlug, target.userId]), compose, () => true),
  });
}
