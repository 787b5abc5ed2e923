import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from './define-tool';
import { toModelToolSpec } from './model-tool-spec';
import type { AnyToolDefinition } from './tool';

function toolWith(input: z.ZodType): AnyToolDefinition {
  return { name: 'search_notes', description: 'Search the notes.', input, execute: () => [] };
}

describe('model tool spec', () => {
  it('carries the name and description and leaves out $schema', () => {
    const spec = toModelToolSpec(toolWith(z.object({ query: z.string() })));
    expect(spec.name).toBe('search_notes');
    expect(spec.description).toBe('Search the notes.');
    expect(spec.parameters).not.toHaveProperty('$schema');
  });

  it('lists required fields and leaves optional ones out of required', () => {
    const spec = toModelToolSpec(toolWith(z.object({ query: z.string(), limit: z.number().int().optional() })));
    expect(spec.parameters).toEqual({
      type: 'object',
      properties: {
        query: { type: 'string' },
        limit: { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
      },
      required: ['query'],
    });
  });

  it('treats a field with a default as optional, since the model may leave it out', () => {
    const spec = toModelToolSpec(toolWith(z.object({ query: z.string(), limit: z.number().default(10) })));
    expect(spec.parameters).toMatchObject({ properties: { limit: { type: 'number', default: 10 } }, required: ['query'] });
  });

  it('describes enums by their values', () => {
    const spec = toModelToolSpec(toolWith(z.object({ order: z.enum(['newest', 'oldest']) })));
    expect(spec.parameters).toMatchObject({ properties: { order: { type: 'string', enum: ['newest', 'oldest'] } } });
  });

  it('describes nested arrays of objects', () => {
    const spec = toModelToolSpec(toolWith(z.object({ filters: z.array(z.object({ tags: z.array(z.string()) })) })));
    expect(spec.parameters).toMatchObject({
      properties: {
        filters: {
          type: 'array',
          items: { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' } } }, required: ['tags'] },
        },
      },
    });
  });

  it('passes descriptions from .describe() on to the model', () => {
    const input = z.object({ query: z.string().describe('Words to look for') }).describe('What to search');
    const spec = toModelToolSpec(toolWith(input));
    expect(spec.parameters).toMatchObject({ description: 'What to search', properties: { query: { description: 'Words to look for' } } });
  });

  it('describes a tool made with defineTool', () => {
    const tool = defineTool({ name: 'ping', description: 'Answers pong.', input: z.object({}), execute: () => 'pong' });
    expect(toModelToolSpec(tool)).toEqual({ name: 'ping', description: 'Answers pong.', parameters: { type: 'object', properties: {} } });
  });

  it('rejects a tool built without defineTool whose input is not a JSON object', () => {
    expect(() => toModelToolSpec(toolWith(z.array(z.string())))).toThrow(
      expect.objectContaining({ code: 'tool.invalid_definition', details: expect.objectContaining({ field: 'input' }) }),
    );
  });
});
