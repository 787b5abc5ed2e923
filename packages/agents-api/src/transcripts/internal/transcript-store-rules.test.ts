import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentsApiError } from '../../errors';
import { sessionOwnerSchema } from '../transcript-store';
import { checkStorable } from './storable-input';
import { parseOwner } from './transcript-store-rules';

const schemaOwner = (owner: unknown) => checkStorable(sessionOwnerSchema.parse(owner), 'owner');

describe('transcript store rules: parseOwner', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads a well-formed owner without the schema', () => {
    const parse = vi.spyOn(sessionOwnerSchema, 'safeParse');
    expect(parseOwner({ userId: 'u1', tenantId: null })).toEqual({ userId: 'u1', tenantId: null });
    expect(parse).not.toHaveBeenCalled();
  });

  it.each([
    { userId: 'u1', tenantId: 't1' },
    { userId: null, tenantId: null },
    { userId: 'x'.repeat(200), tenantId: 'é' },
    { userId: 'u1', tenantId: 't1', role: 'admin' },
  ])('gives back what the schema gives back for %j, as a fresh object', (owner) => {
    const parsed = parseOwner(owner);
    expect(parsed).toEqual(schemaOwner(owner));
    expect(parsed).not.toBe(owner);
  });

  it.each([
    ['an empty id', { userId: '', tenantId: null }],
    ['an id over 200 characters', { userId: 'x'.repeat(201), tenantId: null }],
    ['a missing id', { userId: 'u1' }],
    ['a number', { userId: 7, tenantId: null }],
    ['a NUL character', { userId: 'u\u00001', tenantId: null }],
    ['an array', []],
    ['null', null],
  ])('refuses %s with transcript.invalid_request, as the schema does', (_, owner) => {
    expect(() => parseOwner(owner)).toThrow(expect.objectContaining({ code: 'transcript.invalid_request' }) as AgentsApiError);
  });
});
