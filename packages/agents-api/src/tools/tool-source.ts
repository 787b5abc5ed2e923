import { AgentsApiError } from '../errors';
import type { Principal } from '../permissions/principal';
import type { AnyToolDefinition } from './tool';

/** What a tool source is asked for: the tools of this agent, for this principal. */
export interface ToolSourceContext {
  readonly principal: Principal;
  readonly agentSlug: string;
}

/**
 * A named provider of tools (built-ins, a plugin, a host registry). Sources
 * with a lower `priority` are consulted first and win name clashes.
 */
export interface ToolSource {
  readonly name: string;
  readonly priority: number;
  tools(context: ToolSourceContext): readonly AnyToolDefinition[] | Promise<readonly AnyToolDefinition[]>;
}

/** A tool dropped because an earlier source (or the same one) already offered its name. */
export interface ToolClash {
  readonly toolName: string;
  readonly keptFrom: string;
  readonly droppedFrom: string;
}

/** The tools of all sources, one per name, and every clash that dropped one. */
export interface ResolvedTools {
  readonly tools: readonly AnyToolDefinition[];
  readonly clashes: readonly ToolClash[];
}

/**
 * Asks every source for its tools and merges them, lower priority first
 * (equal priorities keep the given order). On a name clash the first tool
 * wins and the clash is reported, never dropped silently. A source that
 * throws rejects the whole call with `tool.source_failed` (`details.source`).
 *
 * @example
 * const { tools, clashes } = await resolveToolSources([builtIns, plugins], { principal, agentSlug: 'helper' });
 * for (const clash of clashes) logger.warn('tool name clash', clash);
 */
export async function resolveToolSources(sources: Iterable<ToolSource>, context: ToolSourceContext): Promise<ResolvedTools> {
  // Array sort is stable, so equal priorities keep the caller's order.
  const ordered = [...sources].sort((left, right) => left.priority - right.priority);
  // Called in order, awaited together: one slow source does not hold up the others.
  // The async wrapper also turns a source that throws into a rejection like any other.
  const offered = await Promise.all(ordered.map(async (source) => askSource(source, context)));
  return mergeOffers(ordered.map((source, index) => ({ sourceName: source.name, tools: offered[index] ?? [] })));
}

/** One source's tools; its own error becomes `tool.source_failed` naming it (an AgentsApiError keeps its code). */
async function askSource(source: ToolSource, context: ToolSourceContext): Promise<readonly AnyToolDefinition[]> {
  try {
    return await source.tools(context);
  } catch (error) {
    if (AgentsApiError.isInstance(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new AgentsApiError('tool.source_failed', `Tool source "${source.name}" failed: ${reason}`, { details: { source: source.name }, cause: error });
  }
}

interface SourceOffer {
  readonly sourceName: string;
  readonly tools: readonly AnyToolDefinition[];
}

function mergeOffers(offers: readonly SourceOffer[]): ResolvedTools {
  const keptFrom = new Map<string, string>();
  const tools: AnyToolDefinition[] = [];
  const clashes: ToolClash[] = [];
  for (const { sourceName, tools: offeredTools } of offers) {
    for (const tool of offeredTools) {
      const owner = keptFrom.get(tool.name);
      if (owner === undefined) {
        keptFrom.set(tool.name, sourceName);
        tools.push(tool);
      } else {
        clashes.push({ toolName: tool.name, keptFrom: owner, droppedFrom: sourceName });
      }
    }
  }
  return { tools, clashes };
}
