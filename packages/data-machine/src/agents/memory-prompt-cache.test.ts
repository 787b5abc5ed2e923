import { createInMemoryMemoryStore, type MemoryStore } from '@data-machine/agents-api';
import { describe, expect, it } from 'vitest';
import { composeAgentInstructions } from './agent-instructions';
import { createMemoryPromptCache } from './memory-prompt-cache';

const agent = { slug: 'helper', effectiveConfig: { instructions: 'Be kind.' } } as const;
const target = { tenantId: 'tenant_1', userId: 'user_1' };
const soul = { layer: 'agent', tenantId: 'tenant_1', agentSlug: 'helper', userId: null, path: 'SOUL.md' } as const;

/** An in-memory store that counts the files prompts read. */
function countingStore(): { store: MemoryStore; reads: () => number } {
  const inner = createInMemoryMemoryStore();
  let reads = 0;
  const store: MemoryStore = {
    ...inner,
    read: (scope) => {
      reads += 1;
      return inner.read(scope);
    },
    readMany: (scopes) => {
      reads += scopes.length;
      return Promise.all(scopes.map((scope) => inner.read(scope)));
    },
  };
  return { store, reads: () => reads };
}

describe('memory-prompt cache', () => {
  it('composes an agent prompt once while its feed listens, the same prompt as without it', async () => {
    const { store, reads } = countingStore();
    await store.write(soul, 'You are Ada.');
    const cache = createMemoryPromptCache();
    cache.resume();
    const uncached = await composeAgentInstructions(agent, store, target);
    const once = reads();
    expect(once).toBeGreaterThan(0);
    expect(await composeAgentInstructions(agent, store, target, [], cache)).toBe(uncached);
    expect(await composeAgentInstructions(agent, store, target, [], cache)).toBe(uncached);
    expect(reads()).toBe(2 * once);
  });

  it('reads the files on every turn until its feed listens', async () => {
    const { store, reads } = countingStore();
    const cache = createMemoryPromptCache();
    await composeAgentInstructions(agent, store, target, [], cache);
    const once = reads();
    expect(once).toBeGreaterThan(0);
    await composeAgentInstructions(agent, store, target, [], cache);
    expect(reads()).toBe(2 * once);
    expect(cache.size).toBe(0);
  });

  it('keys on tenant, agent and user', async () => {
    const cache = createMemoryPromptCache();
    cache.resume();
    let composed = 0;
    const compose = async () => String((composed += 1));
    await cache.read({ tenantId: 'tenant_1', agentSlug: 'helper', userId: 'user_1' }, compose);
    await cache.read({ tenantId: 'tenant_2', agentSlug: 'helper', userId: 'user_1' }, compose);
    await cache.read({ tenantId: 'tenant_1', agentSlug: 'other', userId: 'user_1' }, compose);
    await cache.read({ tenantId: 'tenant_1', agentSlug: 'helper', userId: null }, compose);
    await cache.read({ tenantId: 'tenant_1', agentSlug: 'helper', userId: 'user_1' }, compose);
    expect(composed).toBe(4);
  });

  it('does not keep a prompt composed across a change: the next turn composes again', async () => {
    const { store } = countingStore();
    await store.write(soul, 'You are Ada.');
    const cache = createMemoryPromptCache();
    cache.resume();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: MemoryStore = { ...store, readMany: async (scopes) => ((await gate), Promise.all(scopes.map((scope) => store.read(scope)))) };
    const pending = composeAgentInstructions(agent, slow, target, [], cache);
    await store.write(soul, 'You are Grace.');
    cache.invalidate();
    release();
    await pending;
    expect(cache.size).toBe(0);
    expect(await composeAgentInstructions(agent, store, target, [], cache)).toContain('You are Grace.');
  });
});
