import { describe, expect, expectTypeOf, it } from 'vitest';
import { AgentsApiError } from '../errors';
import { defineAgent, type AgentDefinition, type AgentDefinitionInput } from './agent-definition';

const writer = { slug: 'writer', label: 'Writer', instructions: 'You write clearly.' } satisfies AgentDefinitionInput;

function definitionError(input: unknown): AgentsApiError {
  try {
    defineAgent(input);
  } catch (error) {
    if (AgentsApiError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected defineAgent to throw');
}

function issuePaths(error: AgentsApiError): unknown[] {
  const issues = error.details?.['issues'] as readonly { path: unknown[] }[];
  return issues.map((issue) => issue.path);
}

describe('defineAgent', () => {
  describe('a valid definition', () => {
    it('needs only a slug, a label and instructions, and fills in the defaults', () => {
      expect(defineAgent(writer)).toEqual({
        ...writer,
        description: '',
        runtime: {},
        memorySeeds: {},
        subagents: [],
        metadata: {},
      });
    });

    it('leaves toolPolicy absent when none is given: the policy filters nothing', () => {
      expect(defineAgent(writer)).not.toHaveProperty('toolPolicy');
    });

    it('keeps every field it is given', () => {
      const full = {
        ...writer,
        description: 'Drafts posts.',
        runtime: { model: 'small-model', temperature: 0.2, maxTurns: 4 },
        toolPolicy: { allow: ['search'], deny: ['publish'] },
        memorySeeds: { 'SOUL.md': '# Soul', 'notes_2024.txt': '' },
        subagents: ['editor', 'fact-checker'],
        metadata: { type: 'assistant', annotations: { tone: ['plain'] } },
      };
      expect(defineAgent(full)).toEqual(full);
    });

    it('returns a deeply frozen copy and leaves the input untouched', () => {
      const input = { ...writer, runtime: { maxTurns: 2 }, metadata: { nested: { list: [1] } } };
      const agent = defineAgent(input);
      expect(agent).not.toBe(input);
      expect(Object.isFrozen(agent)).toBe(true);
      expect(Object.isFrozen(agent.runtime)).toBe(true);
      expect(Object.isFrozen(agent.metadata['nested'])).toBe(true);
      expect(Object.isFrozen(input.metadata.nested.list)).toBe(false);
    });

    it('accepts a slug of 64 characters', () => {
      expect(defineAgent({ ...writer, slug: `a${'b'.repeat(63)}` }).slug).toHaveLength(64);
    });

    it('is typed with readonly collections', () => {
      expectTypeOf<AgentDefinition['subagents']>().toEqualTypeOf<readonly string[]>();
      expectTypeOf<AgentDefinition['runtime']['maxTurns']>().toEqualTypeOf<number | undefined>();
    });
  });

  describe('an invalid definition', () => {
    it('throws agent.invalid_definition with the slug and the zod issues', () => {
      const error = definitionError({ ...writer, label: '' });
      expect(error.code).toBe('agent.invalid_definition');
      expect(error.details).toMatchObject({ slug: 'writer', issues: [{ path: ['label'] }] });
      expect(error.message).toContain('Agent definition "writer" is invalid: label:');
    });

    it('names no slug when the input is not an object', () => {
      const error = definitionError('writer');
      expect(error.details).toMatchObject({ slug: null });
      expect(issuePaths(error)).toEqual([[]]);
    });

    it.each([
      ['an uppercase letter', 'Writer'],
      ['a leading digit', '1writer'],
      ['an underscore', 'my_writer'],
      ['more than 64 characters', `a${'b'.repeat(64)}`],
      ['nothing', ''],
    ])('rejects a slug with %s', (_case, slug) => {
      expect(issuePaths(definitionError({ ...writer, slug }))).toEqual([['slug']]);
    });

    it.each(['label', 'instructions'])('rejects a blank %s', (field) => {
      expect(issuePaths(definitionError({ ...writer, [field]: '   ' }))).toEqual([[field]]);
    });

    it.each([
      ['a temperature above 2', { temperature: 2.1 }, 'temperature'],
      ['a negative temperature', { temperature: -0.1 }, 'temperature'],
      ['zero turns', { maxTurns: 0 }, 'maxTurns'],
      ['a fractional number of turns', { maxTurns: 1.5 }, 'maxTurns'],
      ['an empty model name', { model: '' }, 'model'],
    ])('rejects runtime overrides with %s', (_case, runtime, field) => {
      expect(issuePaths(definitionError({ ...writer, runtime }))).toEqual([['runtime', field]]);
    });

    it.each(['../SOUL.md', 'memory/SOUL.md', 'memory\\SOUL.md', '.hidden', 'SOUL..md', 'SOUL.md.', 'my notes.md', ''])(
      'rejects the memory file name %j',
      (name) => {
        expect(issuePaths(definitionError({ ...writer, memorySeeds: { [name]: 'x' } }))).toEqual([['memorySeeds', name]]);
      },
    );

    it('rejects a memory file name longer than 128 characters', () => {
      const name = `${'a'.repeat(126)}.md`;
      expect(issuePaths(definitionError({ ...writer, memorySeeds: { [name]: 'x' } }))).toEqual([['memorySeeds', name]]);
    });

    it('rejects a subagent that is not a slug', () => {
      expect(issuePaths(definitionError({ ...writer, subagents: ['Editor'] }))).toEqual([['subagents', 0]]);
    });

    it('rejects a subagent named twice', () => {
      expect(issuePaths(definitionError({ ...writer, subagents: ['editor', 'editor'] }))).toEqual([['subagents']]);
    });

    it('rejects a tool policy of the wrong shape', () => {
      expect(issuePaths(definitionError({ ...writer, toolPolicy: { allow: 'search' } }))).toEqual([['toolPolicy', 'allow']]);
    });

    it('rejects metadata that is not JSON', () => {
      expect(issuePaths(definitionError({ ...writer, metadata: { check: () => true } }))).toEqual([['metadata', 'check']]);
    });

    it('rejects an unknown field, so a misspelt one fails loudly', () => {
      const error = definitionError({ ...writer, toolpolicy: { deny: ['publish'] } });
      expect(error.details).toMatchObject({ issues: [{ code: 'unrecognized_keys', keys: ['toolpolicy'] }] });
    });

    it('reports every problem at once', () => {
      const error = definitionError({ slug: 'Bad', label: '' });
      expect(issuePaths(error)).toEqual([['slug'], ['label'], ['instructions']]);
    });
  });
});
