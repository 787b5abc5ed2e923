import { composeMemoryPrompt, type MemoryPromptTarget, type MemoryStore } from '@data-machine/agents-api';
import type { Agent } from './agent-repository';
import type { MemoryPromptCache } from './memory-prompt-cache';

/**
 * An agent's system prompt: its effective instructions, then its memory
 * files for `target` (site, agent and the user's own layers) when a memory
 * store is given, then any `extra` parts, separated by blank lines; empty
 * parts are left out. Chat turns and the `ai` step both use it, so an agent
 * reads the same prompt wherever it runs. With `cache` (one kept for this
 * `memory`), the memory part may come from it.
 */
export async function composeAgentInstructions(
  agent: Pick<Agent, 'slug' | 'effectiveConfig'>,
  memory: MemoryStore | undefined,
  target: Omit<MemoryPromptTarget, 'agentSlug'>,
  extra: readonly string[] = [],
  cache?: MemoryPromptCache,
): Promise<string> {
  const remembered = memory ? await memoryPrompt(memory, { ...target, agentSlug: agent.slug }, cache) : '';
  return [agent.effectiveConfig.instructions ?? '', remembered, ...extra].filter((part) => part !== '').join('\n\n');
}

async function memoryPrompt(memory: MemoryStore, target: MemoryPromptTarget, cache: MemoryPromptCache | undefined): Promise<string> {
  const compose = async () => (await composeMemoryPrompt(memory, target)).prompt;
  return cache === undefined ? compose() : cache.read(target, compose);
}
