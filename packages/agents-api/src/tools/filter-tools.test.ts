import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { Principal } from '../permissions/principal';
import { filterTools, type FilteredTools, type FilterToolsOptions } from './filter-tools';
import type { AnyToolDefinition, ToolDefinition } from './tool';
import type { ToolPolicy } from './tool-policy';

type ToolFlags = Omit<Partial<ToolDefinition>, 'name'>;

function tool(name: string, flags: ToolFlags = {}): AnyToolDefinition {
  return { name, description: `The ${name} tool.`, input: z.object({}), execute: () => null, ...flags };
}

const principal = testPrincipal;

function filter(tools: readonly AnyToolDefinition[], policy?: ToolPolicy, options: Partial<FilterToolsOptions> = {}): FilteredTools {
  return filterTools(tools, { policy, principal: principal(), granted: [], ...options });
}

const keptNames = (result: FilteredTools): string[] => result.tools.map((each) => each.name);

describe('tool policy filter', () => {
  describe('without a policy', () => {
    it('keeps every tool the principal is permitted', () => {
      const tools = [tool('read'), tool('write', { writes: true }), tool('admin', { capability: 'manage' })];
      const result = filter(tools, undefined, { granted: ['manage'] });
      expect(keptNames(result)).toEqual(['read', 'write', 'admin']);
      expect(result.excluded).toEqual([]);
    });

    it('keeps the tools in their given order', () => {
      expect(keptNames(filter([tool('c'), tool('a'), tool('b')]))).toEqual(['c', 'a', 'b']);
    });

    it('still leaves out client-side tools, which only a policy can name', () => {
      const result = filter([tool('pick_file', { clientSide: true })]);
      expect(result.excluded).toEqual([{ toolName: 'pick_file', reason: 'client_side' }]);
    });
  });

  describe('categories', () => {
    it('leaves out a tool outside the categories', () => {
      const result = filter([tool('search', { category: 'content' }), tool('deploy', { category: 'ops' })], { categories: ['content'] });
      expect(keptNames(result)).toEqual(['search']);
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'category' }]);
    });

    it('leaves out a tool with no category', () => {
      const result = filter([tool('search')], { categories: ['content'] });
      expect(result.excluded).toEqual([{ toolName: 'search', reason: 'category' }]);
    });

    it('keeps a mandatory tool outside the categories', () => {
      const result = filter([tool('finish', { category: 'control', mandatory: true })], { categories: ['content'] });
      expect(keptNames(result)).toEqual(['finish']);
    });
  });

  describe('allow', () => {
    it('leaves out a tool it does not name', () => {
      const result = filter([tool('search'), tool('deploy')], { allow: ['search'] });
      expect(keptNames(result)).toEqual(['search']);
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'not_allowed' }]);
    });

    it('keeps a mandatory tool it does not name', () => {
      const result = filter([tool('finish', { mandatory: true })], { allow: ['search'] });
      expect(keptNames(result)).toEqual(['finish']);
    });

    it('narrows what categories kept rather than adding to it', () => {
      const result = filter([tool('search', { category: 'content' }), tool('deploy', { category: 'ops' })], {
        categories: ['content'],
        allow: ['search', 'deploy'],
      });
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'category' }]);
    });
  });

  describe('allowOnly', () => {
    it('keeps exactly the tools it names', () => {
      const result = filter([tool('search'), tool('deploy')], { allowOnly: ['search'] });
      expect(keptNames(result)).toEqual(['search']);
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'not_in_allow_only' }]);
    });

    it('gives a mandatory tool no exception', () => {
      const result = filter([tool('finish', { mandatory: true })], { allowOnly: ['search'] });
      expect(result.excluded).toEqual([{ toolName: 'finish', reason: 'not_in_allow_only' }]);
    });

    it('keeps no tool when it names none', () => {
      const result = filter([tool('search'), tool('finish', { mandatory: true })], { allowOnly: [] });
      expect(keptNames(result)).toEqual([]);
    });
  });

  describe('deny', () => {
    it('leaves out a tool it names', () => {
      const result = filter([tool('search'), tool('deploy')], { deny: ['deploy'] });
      expect(keptNames(result)).toEqual(['search']);
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'denied' }]);
    });

    it('lets deny win over a mandatory tool', () => {
      const result = filter([tool('finish', { mandatory: true })], { deny: ['finish'] });
      expect(result.excluded).toEqual([{ toolName: 'finish', reason: 'denied' }]);
    });

    it('lets deny win over allow and allowOnly naming the same tool', () => {
      const result = filter([tool('deploy')], { allow: ['deploy'], allowOnly: ['deploy'], deny: ['deploy'] });
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'denied' }]);
    });
  });

  describe('client-side tools', () => {
    it('leaves out a client-side tool that allow and allowOnly do not name', () => {
      const result = filter([tool('pick_file', { clientSide: true, mandatory: true })], { allow: [] });
      expect(result.excluded).toEqual([{ toolName: 'pick_file', reason: 'client_side' }]);
    });

    it('offers a client-side tool that allow names', () => {
      const result = filter([tool('pick_file', { clientSide: true })], { allow: ['pick_file'] });
      expect(keptNames(result)).toEqual(['pick_file']);
    });

    it('offers a client-side tool that allowOnly names', () => {
      const result = filter([tool('pick_file', { clientSide: true })], { allowOnly: ['pick_file'] });
      expect(keptNames(result)).toEqual(['pick_file']);
    });

    it('does not offer a client-side tool for being in an allowed category', () => {
      const result = filter([tool('pick_file', { clientSide: true, category: 'ui' })], { categories: ['ui'] });
      expect(result.excluded).toEqual([{ toolName: 'pick_file', reason: 'client_side' }]);
    });
  });

  describe('write tools and autonomous principals', () => {
    const save = tool('save_post', { writes: true });
    const autonomous: readonly (readonly [string, Partial<Principal>])[] = [
      ['an agent token', { authSource: 'token', tokenId: 'token-1' }],
      ['a runtime', { authSource: 'runtime' }],
      ['the system', { authSource: 'system', userId: null }],
      ['a schedule', { requestContext: 'schedule' }],
    ];

    it.each(autonomous)('leaves write tools out for %s', (_label, overrides) => {
      const result = filter([save, tool('read_post')], {}, { principal: principal(overrides) });
      expect(keptNames(result)).toEqual(['read_post']);
      expect(result.excluded).toEqual([{ toolName: 'save_post', reason: 'autonomous_write' }]);
    });

    it.each(autonomous)('leaves write tools out for %s when there is no policy', (_label, overrides) => {
      const result = filter([save], undefined, { principal: principal(overrides) });
      expect(result.excluded).toEqual([{ toolName: 'save_post', reason: 'autonomous_write' }]);
    });

    it.each(autonomous)('offers write tools to %s with allowAutonomousWrites', (_label, overrides) => {
      const result = filter([save], { allowAutonomousWrites: true }, { principal: principal(overrides) });
      expect(keptNames(result)).toEqual(['save_post']);
    });

    it('keeps write tools out for an autonomous principal when allowAutonomousWrites is false', () => {
      const result = filter([save], { allowAutonomousWrites: false }, { principal: principal({ authSource: 'token' }) });
      expect(result.excluded).toEqual([{ toolName: 'save_post', reason: 'autonomous_write' }]);
    });

    it('offers write tools to a user at the keyboard', () => {
      const result = filter([save], {}, { principal: principal({ authSource: 'user', requestContext: 'http' }) });
      expect(keptNames(result)).toEqual(['save_post']);
    });

    it('does not spare a mandatory write tool', () => {
      const result = filter([tool('save_post', { writes: true, mandatory: true })], {}, { principal: principal({ authSource: 'token' }) });
      expect(result.excluded).toEqual([{ toolName: 'save_post', reason: 'autonomous_write' }]);
    });
  });

  describe('capabilities', () => {
    const publish = tool('publish', { capability: 'publish_posts' });

    it('keeps a tool whose capability is granted', () => {
      expect(keptNames(filter([publish], {}, { granted: ['publish_posts'] }))).toEqual(['publish']);
    });

    it('leaves out a tool whose capability is not granted', () => {
      const result = filter([publish], {}, { granted: ['read_posts'] });
      expect(result.excluded).toEqual([{ toolName: 'publish', reason: 'capability' }]);
    });

    it('leaves out a tool whose capability is outside the ceiling, even when granted', () => {
      const narrow = principal({ ceiling: { allowed: ['read_posts'], denied: [] } });
      const result = filter([publish], {}, { principal: narrow, granted: ['publish_posts', 'read_posts'] });
      expect(result.excluded).toEqual([{ toolName: 'publish', reason: 'capability' }]);
    });

    it('leaves out a tool whose capability the ceiling denies, even when granted', () => {
      const denying = principal({ ceiling: { allowed: 'unrestricted', denied: ['publish_posts'] } });
      const result = filter([publish], {}, { principal: denying, granted: ['publish_posts'] });
      expect(result.excluded).toEqual([{ toolName: 'publish', reason: 'capability' }]);
    });

    it('does not spare a mandatory tool', () => {
      const result = filter([tool('publish', { capability: 'publish_posts', mandatory: true })], {}, { granted: [] });
      expect(result.excluded).toEqual([{ toolName: 'publish', reason: 'capability' }]);
    });

    it('reads a one-shot granted iterable once for all tools', () => {
      function* grants(): Generator<string> {
        yield 'publish_posts';
      }
      const result = filter([publish, tool('publish_again', { capability: 'publish_posts' })], {}, { granted: grants() });
      expect(keptNames(result)).toEqual(['publish', 'publish_again']);
    });
  });

  describe('reasons', () => {
    it('reports the first rule, in the policy order, that leaves a tool out', () => {
      const result = filter([tool('deploy', { category: 'ops' })], { categories: ['content'], deny: ['deploy'] });
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'category' }]);
    });

    it('reports each tool left out once', () => {
      const tools = [tool('deploy', { writes: true, capability: 'ops' }), tool('search')];
      const result = filter(tools, { deny: ['deploy'] }, { principal: principal({ authSource: 'token' }) });
      expect(result.excluded).toEqual([{ toolName: 'deploy', reason: 'denied' }]);
    });
  });
});
