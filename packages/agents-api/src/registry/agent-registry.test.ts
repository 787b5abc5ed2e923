import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/errors';
import { AgentsApiError } from '../errors';
import type { AgentDefinitionInput } from './agent-definition';
import { createAgentRegistry, type AgentRegistrar, type AgentRegistry } from './agent-registry';

function agent(slug: string, overrides: Partial<AgentDefinitionInput> = {}): AgentDefinitionInput {
  return { slug, label: `The ${slug}`, instructions: `You are the ${slug}.`, ...overrides };
}

async function registryWith(...slugs: string[]): Promise<AgentRegistry> {
  const registry = createAgentRegistry();
  registry.onInit((agents) => {
    for (const slug of slugs) agents.register(agent(slug));
  });
  await registry.init();
  return registry;
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('agent registry', () => {
  describe('the registration window', () => {
    it('registers the agents of every onInit callback, in order', async () => {
      const registry = createAgentRegistry();
      registry.onInit((agents) => void agents.register(agent('writer')));
      registry.onInit((agents) => void agents.register(agent('editor')));
      await registry.init();
      expect(registry.list().map((each) => each.slug)).toEqual(['writer', 'editor']);
    });

    it('returns the validated definition, defaults applied, from register', async () => {
      const registry = createAgentRegistry();
      let registered: unknown;
      registry.onInit((agents) => {
        registered = agents.register(agent('writer'));
      });
      await registry.init();
      expect(registered).toBe(registry.get('writer'));
      expect(registry.get('writer').subagents).toEqual([]);
    });

    it('accepts registry.register inside a callback as well as the registrar', async () => {
      const registry = createAgentRegistry();
      registry.onInit(() => void registry.register(agent('writer')));
      await registry.init();
      expect(registry.has('writer')).toBe(true);
    });

    it('runs async callbacks one after another, each awaited before the next', async () => {
      const registry = createAgentRegistry();
      const events: string[] = [];
      registry.onInit(async (agents) => {
        events.push('first starts');
        await Promise.resolve();
        agents.register(agent('writer'));
        events.push('first ends');
      });
      registry.onInit(() => void events.push('second starts'));
      await registry.init();
      expect(events).toEqual(['first starts', 'first ends', 'second starts']);
      expect(registry.has('writer')).toBe(true);
    });

    it('initializes an empty registry when no callback was added', async () => {
      const registry = createAgentRegistry();
      await registry.init();
      expect(registry.list()).toEqual([]);
    });

    it('moves from open to initializing to ready', async () => {
      const registry = createAgentRegistry();
      const seen: string[] = [registry.status];
      registry.onInit(() => void seen.push(registry.status));
      await registry.init();
      seen.push(registry.status);
      expect(seen).toEqual(['open', 'initializing', 'ready']);
    });
  });

  describe('registry.closed', () => {
    it('refuses a registration before init, outside any callback', () => {
      const registry = createAgentRegistry();
      const error = thrownBy(() => registry.register(agent('writer')));
      expect(error.code).toBe('registry.closed');
      expect(error.details).toEqual({ status: 'open' });
    });

    it('refuses a registration after init', async () => {
      const registry = await registryWith();
      expect(thrownBy(() => registry.register(agent('writer'))).code).toBe('registry.closed');
    });

    it('refuses a registrar kept after its callback returned', async () => {
      const registry = createAgentRegistry();
      let kept: AgentRegistrar | undefined;
      registry.onInit((agents) => {
        kept = agents;
      });
      registry.onInit(() => void kept?.register(agent('writer')));
      const error = await rejected(registry.init());
      expect(error).toMatchObject({ code: 'registry.closed', details: { status: 'initializing' } });
    });

    it('refuses onInit after init', async () => {
      const registry = await registryWith();
      const error = thrownBy(() => registry.onInit(() => undefined));
      expect(error.code).toBe('registry.closed');
      expect(error.details).toEqual({ status: 'ready' });
    });

    it('refuses onInit while init runs', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit(() => {
        error = thrownBy(() => registry.onInit(() => undefined));
      });
      await registry.init();
      expect(error?.code).toBe('registry.closed');
    });
  });

  describe('registry.duplicate_agent', () => {
    it('names where the first registration came from', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit((agents) => void agents.register(agent('writer')), { source: 'blog-module' });
      registry.onInit((agents) => {
        error = thrownBy(() => agents.register(agent('writer')));
      }, { source: 'shop-module' });
      await registry.init();
      expect(error?.code).toBe('registry.duplicate_agent');
      expect(error?.message).toContain('blog-module');
      expect(error?.details).toEqual({ slug: 'writer', firstSource: 'blog-module', source: 'shop-module' });
    });

    it('prefers the source given to register over the callback source', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit((agents) => {
        agents.register(agent('writer'), { source: 'writer.ts' });
        error = thrownBy(() => agents.register(agent('writer'), { source: 'copy.ts' }));
      }, { source: 'blog-module' });
      await registry.init();
      expect(error?.details).toEqual({ slug: 'writer', firstSource: 'writer.ts', source: 'copy.ts' });
    });

    it('names a callback without a source by its position', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit((agents) => void agents.register(agent('writer')));
      registry.onInit((agents) => {
        error = thrownBy(() => agents.register(agent('writer')));
      });
      await registry.init();
      expect(error?.details).toEqual({ slug: 'writer', firstSource: 'onInit callback #1', source: 'onInit callback #2' });
    });

    it('keeps the first definition when the duplicate is caught', async () => {
      const registry = createAgentRegistry();
      registry.onInit((agents) => {
        agents.register(agent('writer', { label: 'First' }));
        thrownBy(() => agents.register(agent('writer', { label: 'Second' })));
      });
      await registry.init();
      expect(registry.get('writer').label).toBe('First');
    });
  });

  describe('agent.invalid_definition', () => {
    it('is thrown by register, naming the source', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit((agents) => {
        error = thrownBy(() => agents.register({ slug: 'Writer' }));
      }, { source: 'blog-module' });
      await registry.init();
      expect(error?.code).toBe('agent.invalid_definition');
      expect(error?.message).toContain('blog-module');
      expect(error?.details).toMatchObject({ slug: 'Writer', source: 'blog-module' });
    });
  });

  describe('reads', () => {
    it.each([
      ['get', (registry: AgentRegistry) => registry.get('writer')],
      ['find', (registry: AgentRegistry) => registry.find('writer')],
      ['has', (registry: AgentRegistry) => registry.has('writer')],
      ['list', (registry: AgentRegistry) => registry.list()],
    ])('%s throws registry.not_initialized before init', (_name, read) => {
      const error = thrownBy(() => read(createAgentRegistry()));
      expect(error.code).toBe('registry.not_initialized');
      expect(error.details).toEqual({ status: 'open' });
    });

    it('throw registry.not_initialized while init runs', async () => {
      const registry = createAgentRegistry();
      let error: AgentsApiError | undefined;
      registry.onInit(() => {
        error = thrownBy(() => registry.list());
      });
      await registry.init();
      expect(error?.code).toBe('registry.not_initialized');
      expect(error?.details).toEqual({ status: 'initializing' });
    });

    it('get throws agent.not_found for an unknown slug', async () => {
      const registry = await registryWith('writer');
      const error = thrownBy(() => registry.get('editor'));
      expect(error.code).toBe('agent.not_found');
      expect(error.details).toEqual({ slug: 'editor' });
    });

    it('find returns undefined and has returns false for an unknown slug', async () => {
      const registry = await registryWith('writer');
      expect(registry.find('editor')).toBeUndefined();
      expect(registry.has('editor')).toBe(false);
    });

    it('find and has see a registered agent', async () => {
      const registry = await registryWith('writer');
      expect(registry.find('writer')?.slug).toBe('writer');
      expect(registry.has('writer')).toBe(true);
    });

    it('never re-run the callbacks', async () => {
      const registry = createAgentRegistry();
      let runs = 0;
      registry.onInit((agents) => {
        runs += 1;
        agents.register(agent('writer'));
      });
      await registry.init();
      registry.get('writer');
      registry.find('writer');
      registry.has('editor');
      registry.list();
      expect(runs).toBe(1);
    });
  });

  describe('init', () => {
    it('runs the callbacks only once when called twice', async () => {
      const registry = createAgentRegistry();
      let runs = 0;
      registry.onInit(() => void (runs += 1));
      const first = registry.init();
      const second = registry.init();
      await Promise.all([first, second]);
      await registry.init();
      expect(second).toBe(first);
      expect(runs).toBe(1);
    });

    it('does not start a second run when a callback calls init', async () => {
      const registry = createAgentRegistry();
      let runs = 0;
      let inner: Promise<void> | undefined;
      registry.onInit(() => {
        runs += 1;
        inner = registry.init();
      });
      const outer = registry.init();
      await outer;
      expect(inner).toBe(outer);
      expect(runs).toBe(1);
    });
  });

  describe('a callback that throws', () => {
    function failingRegistry(cause: Error): { registry: AgentRegistry; calls: string[] } {
      const registry = createAgentRegistry();
      const calls: string[] = [];
      registry.onInit((agents) => {
        calls.push('first');
        agents.register(agent('writer'));
      });
      registry.onInit(async () => {
        calls.push('second');
        await Promise.resolve();
        throw cause;
      });
      registry.onInit(() => void calls.push('third'));
      return { registry, calls };
    }

    it('makes init reject with registry.init_failed, naming the callback, with its error as cause', async () => {
      const cause = new Error('module broke');
      const { registry } = failingRegistry(cause);
      const error = await rejected(registry.init());
      expect(AgentsApiError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'registry.init_failed', details: { source: 'onInit callback #2' }, cause });
      expect((error as Error).message).toContain('module broke');
    });

    it('stops the callbacks that follow', async () => {
      const { registry, calls } = failingRegistry(new Error('module broke'));
      await rejected(registry.init());
      expect(calls).toEqual(['first', 'second']);
    });

    it('leaves the registry failed: reads throw registry.not_initialized with the error as cause', async () => {
      const cause = new Error('module broke');
      const { registry } = failingRegistry(cause);
      await rejected(registry.init());
      const error = thrownBy(() => registry.has('writer'));
      expect(registry.status).toBe('failed');
      expect(error).toMatchObject({ code: 'registry.not_initialized', details: { status: 'failed' }, cause: { code: 'registry.init_failed', cause } });
      expect(error.message).toContain('module broke');
    });

    it('is not retried by a second init', async () => {
      const cause = new Error('module broke');
      const { registry, calls } = failingRegistry(cause);
      const first = await rejected(registry.init());
      expect(await rejected(registry.init())).toBe(first);
      expect(calls).toEqual(['first', 'second']);
    });

    it('rejects init with an uncaught duplicate', async () => {
      const registry = createAgentRegistry();
      registry.onInit((agents) => void agents.register(agent('writer')));
      registry.onInit((agents) => void agents.register(agent('writer')));
      expect(await rejected(registry.init())).toMatchObject({ code: 'registry.duplicate_agent' });
    });
  });

  describe('after init', () => {
    it('is frozen', async () => {
      const registry = await registryWith('writer');
      expect(Object.isFrozen(registry)).toBe(true);
      expect(Object.isFrozen(registry.list())).toBe(true);
    });

    it('holds deeply frozen definitions', async () => {
      const registry = createAgentRegistry();
      registry.onInit((agents) => void agents.register(agent('writer', { metadata: { tags: ['prose'] }, runtime: { maxTurns: 3 } })));
      await registry.init();
      const writer = registry.get('writer');
      expect(() => {
        (writer.runtime as { maxTurns?: number }).maxTurns = 100;
      }).toThrow(TypeError);
      expect(Object.isFrozen(writer.metadata['tags'])).toBe(true);
    });

    it('returns the same list on every read', async () => {
      const registry = await registryWith('writer', 'editor');
      expect(registry.list()).toBe(registry.list());
    });
  });
});
