import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AgentsApiError } from '../../errors';
import { newSessionSchema, sessionOwnerSchema } from '../transcript-store';
import { checkStorable } from './storable-input';
import { defaultRunId, defaultSessionId, parseNewSession, parseOwner } from './transcript-store-rules';

const schemaOwner = (owner: unknown) => checkStorable(sessionOwnerSchema.parse(owner), 'owner');
const schemaSession = (session: unknown) => checkStorable(newSessionSchema.parse(session), 'session');

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

describe('transcript store rules: parseNewSession', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads a well-formed new session without metadata without the schema', () => {
    const parse = vi.spyOn(newSessionSchema, 'safeParse');
    expect(parseNewSession({ id: 'ses_1', agentSlug: 'weather', title: 'Trip' })).toEqual({ id: 'ses_1', agentSlug: 'weather', title: 'Trip' });
    expect(parse).not.toHaveBeenCalled();
  });

  it.each([
    { agentSlug: 'weather' },
    { id: 'a-b_C9', agentSlug: 'w', title: null },
    { id: 'x'.repeat(128), agentSlug: 'w'.repeat(64), title: 'x'.repeat(500) },
    { agentSlug: 'weather', metadata: { trace: { depth: 1 } } },
    { agentSlug: 'weather', extra: true },
  ])('gives back what the schema gives back for %j', (session) => {
    expect(parseNewSession(session)).toEqual(schemaSession(session));
  });

  it.each([
    ['a slug with a capital', { agentSlug: 'Weather' }],
    ['a slug over 64 characters', { agentSlug: 'w'.repeat(65) }],
    ['an id with a space', { id: 'ses 1', agentSlug: 'weather' }],
    ['an id over 128 characters', { id: 'x'.repeat(129), agentSlug: 'weather' }],
    ['a title over 500 characters', { agentSlug: 'weather', title: 'x'.repeat(501) }],
    ['a NUL character in the title', { agentSlug: 'weather', title: 'a\u0000b' }],
    ['a BigInt in the metadata', { agentSlug: 'weather', metadata: { n: 1n } }],
    ['no slug', { id: 'ses_1' }],
    ['an array', []],
  ])('refuses %s with transcript.invalid_request, as the schema does', (_, session) => {
    expect(() => parseNewSession(session)).toThrow(expect.objectContaining({ code: 'transcript.invalid_request' }) as AgentsApiError);
  });
});

describe('transcript store rules: default ids', () => {
  it('draws session and run ids as a prefix and a random UUID v4 without its hyphens', () => {
    const uuidV4 = '[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}';
    expect(defaultSessionId()).toMatch(new RegExp(`^ses_${uuidV4}$`));
    expect(defaultRunId()).toMatch(new RegExp(`^run_${uuidV4}$`));
    expect(defaultSessionId()).not.toBe(defaultSessionId());
  });
});
