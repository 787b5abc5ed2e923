import { AgentsApiError, type MemoryStore } from '@data-machine/agents-api';
import type { OutboxHandler } from './outbox-dispatcher';

/** Options of {@link createAgentMemoryProvisioner}. */
export interface AgentMemoryProvisionerOptions {
  readonly memory: MemoryStore;
  /** The memory layer agent files live in; default `agent`. */
  readonly layer?: string;
}

/**
 * The built-in `agent.created` handler: scaffolds the agent's SOUL.md (from
 * its name, description and seed) and an empty MEMORY.md in the substrate's
 * memory store. Idempotent: each file is written only if absent, so a
 * redelivery, or a file a person already edited, is left as it is.
 */
export function createAgentMemoryProvisioner(options: AgentMemoryProvisionerOptions): OutboxHandler {
  const layer = options.layer ?? 'agent';
  return {
    name: 'agent-memory-provisioner',
    types: ['agent.created'],
    async handle(event) {
      const { payload } = event;
      const scope = { layer, tenantId: event.tenantId, agentSlug: payload.slug, userId: null } as const;
      await writeIfAbsent(options.memory, { ...scope, path: 'SOUL.md' }, soulFile(payload));
      await writeIfAbsent(options.memory, { ...scope, path: 'MEMORY.md' }, '');
    },
  };
}

/** The scaffolded SOUL.md of a new agent. */
export function soulFile(agent: { readonly name: string; readonly description: string; readonly soulSeed: string | null }): string {
  const parts = [`# ${agent.name}`, ''];
  if (agent.description) parts.push(agent.description, '');
  if (agent.soulSeed) parts.push(agent.soulSeed, '');
  return parts.join('\n');
}

async function writeIfAbsent(memory: MemoryStore, scope: Parameters<MemoryStore['write']>[0], content: string): Promise<void> {
  try {
    await memory.write(scope, content, { ifMatch: null, metadata: { scaffolded: true } });
  } catch (error) {
    if (AgentsApiError.isInstance(error) && error.code === 'memory.conflict') return;
    throw error;
  }
}
