import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseInput } from './input';
import { describeInputIssues, inputIssues, safeParseInput } from './input-issues';
import { emailSchema } from './users/user-repository';

function messagesOf(schema: z.ZodType, value: unknown): Record<string, string> {
  const parsed = safeParseInput(schema, value);
  if (parsed.success) return {};
  return Object.fromEntries(inputIssues(parsed.error).map((issue) => [issue.path, issue.message]));
}

describe('input issues in the operator\'s words', () => {
  it('says a missing field is required', () => {
    expect(messagesOf(z.object({ url: z.string() }), {})).toEqual({ url: 'is required' });
  });

  it('quotes what was sent, not what a coercion made of it', () => {
    const query = z.object({ limit: z.coerce.number().int().min(1).max(200).optional() });
    expect(messagesOf(query, { limit: 'abc' })).toEqual({ limit: 'must be a number, not "abc"' });
    expect(messagesOf(query, { limit: ['2', '3'] })).toEqual({ limit: 'must be a number, not a list' });
  });

  it('names the expected type and the one given', () => {
    expect(messagesOf(z.object({ name: z.string(), config: z.object({}), count: z.int() }), { name: 5, config: 'x', count: 1.5 })).toEqual({
      name: 'must be a string, not 5',
      config: 'must be an object, not "x"',
      count: 'must be a whole number, not 1.5',
    });
  });

  it('words bounds by what they bound', () => {
    const schema = z.object({ limit: z.int().min(1).max(200), label: z.string().min(1), slug: z.string().max(3), tags: z.array(z.string()).min(1).max(2) });
    expect(messagesOf(schema, { limit: 0, label: '', slug: 'long', tags: [] })).toEqual({
      limit: 'must be at least 1',
      label: 'must not be empty',
      slug: 'must be at most 3 characters long',
      tags: 'must not be empty',
    });
    expect(messagesOf(schema, { limit: 500, label: 'x', slug: 'x', tags: ['a', 'b', 'c'] })).toEqual({ limit: 'must be at most 200', tags: 'must have at most 2 items' });
  });

  it('lists the allowed values of an enum and of a discriminated union', () => {
    const schema = z.object({
      status: z.enum(['pending', 'failed']),
      step: z.discriminatedUnion('type', [z.object({ type: z.literal('fetch') }), z.object({ type: z.literal('ai') })]),
    });
    expect(messagesOf(schema, { status: 'done', step: { type: 'fetchh' } })).toEqual({
      status: 'must be one of "pending", "failed", not "done"',
      'step.type': 'must be one of "fetch", "ai", not "fetchh"',
    });
  });

  it('names the types a union takes when the value is none of them', () => {
    expect(messagesOf(z.object({ body: z.union([z.string(), z.record(z.string(), z.unknown())]) }), { body: 5 })).toEqual({ body: 'must be a string or an object, not 5' });
  });

  it('names unknown fields and the expected format', () => {
    const schema = z.strictObject({ at: z.iso.datetime(), site: z.url() });
    expect(messagesOf(schema, { at: 'yesterday', site: 'not a url', extra: 1 })).toEqual({
      '': 'unknown field "extra"',
      at: 'must be a date and time with its offset, like 2026-12-02T09:30:00Z, not "yesterday"',
      site: 'must be a URL, like https://example.com/feed.xml, not "not a url"',
    });
  });

  it('keeps a message the schema words itself', () => {
    expect(messagesOf(z.object({ slug: z.string().regex(/^[a-z]+$/, 'a slug is lowercase letters') }), { slug: 'A B' })).toEqual({ slug: 'a slug is lowercase letters' });
  });

  it('describes the first issue and counts the rest', () => {
    expect(describeInputIssues('query', [{ path: 'query.limit', message: 'must be at least 1' }, { path: 'query.status', message: 'is required' }])).toBe(
      'Invalid query: query.limit: must be at least 1 (and 1 more)',
    );
    expect(describeInputIssues('body', [{ path: '', message: 'must be an object, not "x"' }])).toBe('Invalid body: must be an object, not "x"');
  });

  it('words the product\'s own parse errors the same way: a bad email quotes what was sent', () => {
    expect(() => parseInput(emailSchema, ' Nobody ', 'email')).toThrow('Invalid email: must be an email address, not " Nobody "');
  });
});
