import { composeMemoryPrompt, type MemoryPromptTarget, type MemoryStore } from '@data-machine/agents-api';
import type { Agent } from './agent-repository';

/**
 * An agent's system prompt: its effective instructions, then its memory
 * files for `target` (site, agent and the user's own layers) when a memory
 * store is given, then any `extra` parts, separated by blank lines; empty
 * parts are left out. Chat turns and the `ai` step both use it, so an agent
 * reads the same prompt wherever it runs.
 */
export async function composeAgentInstructions(
  agent: Pick<Agent, 'slug' | 'effectiveConfig'>,
  memory: MemoryStore | undefined,
  target: Omit<MemoryPromptTarget, 'agentSlug'>,
  extra: readonly string[] = [],
): Promise<string> {
  const remembered = memory ? (await composeMemoryPrompt(memory, { ...target, agentSlug: agent.slug })).prompt : '';
  return [agent.effectiveConfig.instructions ?? '', remembered, ...extra].filter((part) => part !== '').join('\n\n');
}
