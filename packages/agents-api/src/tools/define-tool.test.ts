import { describe, expect, expectTypeOf, it } from 'vitest';
import { thrownBy } from '../../test/support/errors';
import { z } from 'zod';
import type { ToolExecutionContext } from './tool';
import { defineTool, toolInputJsonSchema } from './define-tool';

const weather = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  input: z.object({ city: z.string(), days: z.number().default(1) }),
  execute: ({ city }: { city: string }) => `sunny in ${city}`,
};

describe('defineTool', () => {
  it('returns a frozen copy of a valid definition', () => {
    const tool = defineTool(weather);
    expect(tool).toEqual(weather);
    expect(tool).not.toBe(weather);
    expect(Object.isFrozen(tool)).toBe(true);
  });

  it('infers the executor input from the zod schema, defaults applied', () => {
    defineTool({
      name: 'get_weather',
      description: 'Current weather for a city.',
      input: z.object({ city: z.string(), days: z.number().default(1), unit: z.enum(['c', 'f']).optional() }),
      execute: (input, context) => {
        expectTypeOf(input).toEqualTypeOf<{ city: string; days: number; unit?: 'c' | 'f' | undefined }>();
        expectTypeOf(context).toEqualTypeOf<ToolExecutionContext>();
        return input.days;
      },
    });
  });

  it('infers the output type from the executor', () => {
    const tool = defineTool({ ...weather, execute: async () => ({ temperature: 21 }) });
    expectTypeOf(tool.execute).returns.toEqualTypeOf<{ temperature: number } | Promise<{ temperature: number }>>();
  });

  it('rejects a name the model APIs do not accept', () => {
    const error = thrownBy(() => defineTool({ ...weather, name: 'get weather' }));
    expect(error.code).toBe('tool.invalid_definition');
    expect(error.details).toMatchObject({ toolName: 'get weather', field: 'name' });
  });

  it('rejects a name longer than 64 characters', () => {
    const error = thrownBy(() => defineTool({ ...weather, name: 'a'.repeat(65) }));
    expect(error.details).toMatchObject({ field: 'name' });
  });

  it('rejects a blank description', () => {
    const error = thrownBy(() => defineTool({ ...weather, description: '  ' }));
    expect(error.code).toBe('tool.invalid_definition');
    expect(error.details).toMatchObject({ toolName: 'get_weather', field: 'description' });
  });

  it('rejects an input that is not a zod schema', () => {
    const notZod = { parse: (value: unknown) => value };
    // @ts-expect-error input is a zod schema
    const error = thrownBy(() => defineTool({ ...weather, input: notZod, execute: () => 'x' }));
    expect(error.details).toMatchObject({ field: 'input', problem: 'input is not a zod schema' });
  });

  it('rejects an input that is not a JSON object', () => {
    const error = thrownBy(() => defineTool({ ...weather, input: z.string(), execute: () => 'x' }));
    expect(error.details).toMatchObject({ field: 'input', problem: 'input does not describe a JSON object' });
  });

  it('rejects an input with no JSON Schema form, keeping zod\'s error as the cause', () => {
    const error = thrownBy(() => defineTool({ ...weather, input: z.object({ when: z.date() }), execute: () => 'x' }));
    expect(error.details).toMatchObject({ field: 'input' });
    expect(String(error.details?.['problem'])).toContain('Date cannot be represented');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('rejects a definition without an executor', () => {
    // @ts-expect-error a tool has an executor
    const error = thrownBy(() => defineTool({ ...weather, execute: undefined }));
    expect(error.details).toMatchObject({ field: 'execute' });
  });
});

describe('toolInputJsonSchema', () => {
  it('converts each input schema once and hands out the same frozen JSON Schema', () => {
    const input = z.object({ city: z.string() });
    const first = toolInputJsonSchema({ name: 'weather', input });
    expect(toolInputJsonSchema({ name: 'other', input })).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.properties)).toBe(true);
    expect(toolInputJsonSchema({ name: 'weather', input: z.object({ city: z.string() }) })).not.toBe(first);
  });
});
