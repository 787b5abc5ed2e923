import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import { AgentsApiError } from '../errors';
import type { AnyToolDefinition } from './tool';
import { resolveToolSources, type ToolSource, type ToolSourceContext } from './tool-source';

const principal = testPrincipal();
const context: ToolSourceContext = { principal, agentSlug: 'helper' };

function tool(name: string, description = `The ${name} tool.`): AnyToolDefinition {
  return { name, description, input: z.object({}), execute: () => null };
}

function source(name: string, priority: number, tools: readonly AnyToolDefinition[]): ToolSource {
  return { name, priority, tools: () => tools };
}

const names = (tools: readonly AnyToolDefinition[]): string[] => tools.map((each) => each.name);

describe('tool sources', () => {
  it('merges the tools of every source, lower priority first', async () => {
    const sources = [source('plugins', 20, [tool('c')]), source('built-ins', 10, [tool('a'), tool('b')])];
    const { tools } = await resolveToolSources(sources, context);
    expect(names(tools)).toEqual(['a', 'b', 'c']);
  });

  it('keeps the given order between sources of equal priority', async () => {
    const sources = [source('second', 10, [tool('b')]), source('first', 10, [tool('a')]), source('third', 10, [tool('c')])];
    const { tools } = await resolveToolSources(sources, context);
    expect(names(tools)).toEqual(['b', 'a', 'c']);
  });

  it('consults sources in priority order', async () => {
    const consulted: string[] = [];
    const recording = (name: string, priority: number): ToolSource => ({
      name,
      priority,
      tools: () => {
        consulted.push(name);
        return [];
      },
    });
    await resolveToolSources([recording('late', 5), recording('early', -1), recording('middle', 0)], context);
    expect(consulted).toEqual(['early', 'middle', 'late']);
  });

  it('hands every source the principal and agent', async () => {
    const seen: ToolSourceContext[] = [];
    const spy: ToolSource = {
      name: 'spy',
      priority: 0,
      tools: (given) => {
        seen.push(given);
        return [];
      },
    };
    await resolveToolSources([spy], context);
    expect(seen).toEqual([context]);
  });

  it('lets the lower-priority source win a name clash and reports it', async () => {
    const preferred = tool('search', 'Built-in search.');
    const sources = [source('plugin', 20, [tool('search', 'Plugin search.')]), source('built-ins', 10, [preferred])];
    const { tools, clashes } = await resolveToolSources(sources, context);
    expect(tools).toEqual([preferred]);
    expect(clashes).toEqual([{ toolName: 'search', keptFrom: 'built-ins', droppedFrom: 'plugin' }]);
  });

  it('lets the earlier of two equal-priority sources win a clash', async () => {
    const sources = [source('first', 0, [tool('search')]), source('second', 0, [tool('search')])];
    const { clashes } = await resolveToolSources(sources, context);
    expect(clashes).toEqual([{ toolName: 'search', keptFrom: 'first', droppedFrom: 'second' }]);
  });

  it('reports a name offered twice by the same source', async () => {
    const { tools, clashes } = await resolveToolSources([source('built-ins', 0, [tool('search'), tool('search')])], context);
    expect(tools).toHaveLength(1);
    expect(clashes).toEqual([{ toolName: 'search', keptFrom: 'built-ins', droppedFrom: 'built-ins' }]);
  });

  it('reports one clash per dropped tool', async () => {
    const sources = [source('a', 0, [tool('search')]), source('b', 1, [tool('search')]), source('c', 2, [tool('search')])];
    const { clashes } = await resolveToolSources(sources, context);
    expect(clashes).toEqual([
      { toolName: 'search', keptFrom: 'a', droppedFrom: 'b' },
      { toolName: 'search', keptFrom: 'a', droppedFrom: 'c' },
    ]);
  });

  it('awaits async sources and keeps priority order whichever settles first', async () => {
    let releaseSlow = (): void => undefined;
    const slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    const slow: ToolSource = {
      name: 'slow',
      priority: 0,
      tools: async () => {
        await slowGate;
        return [tool('search', 'Slow search.')];
      },
    };
    const fast: ToolSource = { name: 'fast', priority: 1, tools: async () => [tool('search', 'Fast search.'), tool('fetch')] };
    const resolving = resolveToolSources([fast, slow], context);
    releaseSlow();
    const { tools, clashes } = await resolving;
    expect(tools.map((each) => each.description)).toEqual(['Slow search.', 'The fetch tool.']);
    expect(clashes).toEqual([{ toolName: 'search', keptFrom: 'slow', droppedFrom: 'fast' }]);
  });

  it('rejects when a source fails', async () => {
    const cause = new Error('registry down');
    const failing: ToolSource = { name: 'broken', priority: 0, tools: () => Promise.reject(cause) };
    await expect(resolveToolSources([failing], context)).rejects.toMatchObject({
      code: 'tool.source_failed',
      details: { source: 'broken' },
      message: expect.stringContaining('registry down'),
      cause,
    });
  });

  it('rejects when a synchronous source throws', async () => {
    const throwing: ToolSource = {
      name: 'broken',
      priority: 0,
      tools: () => {
        throw new Error('bad plugin');
      },
    };
    await expect(resolveToolSources([throwing], context)).rejects.toMatchObject({ code: 'tool.source_failed', message: expect.stringContaining('bad plugin') });
  });

  it('lets a typed error of a source through with its own code', async () => {
    const typed: ToolSource = { name: 'strict', priority: 0, tools: () => Promise.reject(new AgentsApiError('tool.invalid_definition', 'bad tool')) };
    await expect(resolveToolSources([typed], context)).rejects.toMatchObject({ code: 'tool.invalid_definition' });
  });

  it('resolves no sources to no tools', async () => {
    expect(await resolveToolSources([], context)).toEqual({ tools: [], clashes: [] });
  });
});
