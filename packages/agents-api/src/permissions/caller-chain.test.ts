import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/errors';
import { can, isAutonomous } from './can';
import { createPrincipal, intersectCeilings, isValidPrincipal, principalForSubagent } from './caller-chain';
import { maxCallerChainDepth, type CapabilityCeiling, type Principal } from './principal';
import { testPrincipal } from '../../test/support/principals';

const everything = ['chat', 'search', 'publish', 'delete', 'use_tools'];

function principal(overrides: Partial<Principal> = {}): Principal {
  return createPrincipal(testPrincipal({ agentSlug: 'writer', ...overrides }));
}

function ceiling(allowed: CapabilityCeiling['allowed'], denied: readonly string[] = []): CapabilityCeiling {
  return { allowed, denied };
}

function permitted(subject: Principal): string[] {
  return everything.filter((capability) => can(subject, capability, everything));
}

/** Calls `depth` agents in a row, each from the one before. */
function nested(root: Principal, depth: number): Principal {
  let current = root;
  for (let level = 1; level <= depth; level += 1) current = principalForSubagent(current, { agentSlug: `agent-${level}` });
  return current;
}

describe('createPrincipal', () => {
  it('returns a valid principal', () => {
    expect(principal()).toMatchObject({ userId: 'user-1', agentSlug: 'writer', callerChain: [] });
  });

  it('returns a deeply frozen principal', () => {
    const subject = principal({ ceiling: ceiling(['chat'], ['publish']) });
    expect(Object.isFrozen(subject)).toBe(true);
    expect(Object.isFrozen(subject.ceiling)).toBe(true);
    expect(Object.isFrozen(subject.ceiling.allowed)).toBe(true);
    expect(Object.isFrozen(subject.callerChain)).toBe(true);
  });

  it('throws principal.invalid with the zod issues', () => {
    const error = thrownBy(() => principal({ agentSlug: '' }));
    expect(error.code).toBe('principal.invalid');
    expect(error.details).toMatchObject({ issues: [{ path: ['agentSlug'] }] });
  });

  it('takes an absent tenantId as null, no tenant', () => {
    const { tenantId: _omitted, ...withoutTenant } = testPrincipal();
    expect(createPrincipal(withoutTenant).tenantId).toBeNull();
  });

  it('keeps the tenantId it is given', () => {
    expect(principal({ tenantId: 'acme' }).tenantId).toBe('acme');
  });

  it.each([[''], [42]])('throws principal.invalid for tenantId %j', (tenantId) => {
    const error = thrownBy(() => createPrincipal({ ...testPrincipal(), tenantId }));
    expect(error.code).toBe('principal.invalid');
    expect(error.details).toMatchObject({ issues: [{ path: ['tenantId'] }] });
  });

  it('throws principal.invalid for something that is not a principal', () => {
    expect(thrownBy(() => createPrincipal(null)).code).toBe('principal.invalid');
  });

  it('throws principal.invalid for a caller chain longer than the maximum', () => {
    const callerChain = Array.from({ length: maxCallerChainDepth + 1 }, (_, index) => `agent-${index}`);
    expect(thrownBy(() => principal({ callerChain })).code).toBe('principal.invalid');
  });
});

describe('principalForSubagent', () => {
  it('acts as the called agent and appends the caller to the chain', () => {
    const child = principalForSubagent(principal({ callerChain: ['planner'] }), { agentSlug: 'fact-checker' });
    expect(child.agentSlug).toBe('fact-checker');
    expect(child.callerChain).toEqual(['planner', 'writer']);
  });

  it('keeps the user, tenant, auth source, request context and token of the parent', () => {
    const parent = principal({ userId: 'user-7', tenantId: 'acme', authSource: 'token', requestContext: 'schedule', tokenId: 'token-1' });
    const child = principalForSubagent(parent, { agentSlug: 'editor' });
    expect(child).toMatchObject({ userId: 'user-7', tenantId: 'acme', authSource: 'token', requestContext: 'schedule', tokenId: 'token-1' });
  });

  it('inherits the parent ceiling when no ceiling is requested', () => {
    const parent = principal({ ceiling: ceiling(['chat', 'search'], ['publish']) });
    expect(principalForSubagent(parent, { agentSlug: 'editor' }).ceiling).toEqual(parent.ceiling);
  });

  it('narrows to the requested ceiling', () => {
    const child = principalForSubagent(principal(), { agentSlug: 'editor', ceiling: ceiling(['search']) });
    expect(permitted(child)).toEqual(['search']);
  });

  it('never widens, even when unrestricted is requested', () => {
    const parent = principal({ ceiling: ceiling(['chat'], ['publish']) });
    const child = principalForSubagent(parent, { agentSlug: 'editor', ceiling: ceiling('unrestricted') });
    expect(child.ceiling).toEqual(ceiling(['chat'], ['publish']));
  });

  it('ignores a requested capability the parent was not allowed', () => {
    const parent = principal({ ceiling: ceiling(['chat']) });
    const child = principalForSubagent(parent, { agentSlug: 'editor', ceiling: ceiling(['chat', 'publish']) });
    expect(permitted(child)).toEqual(['chat']);
  });

  it('keeps the parent denials even when the request lists none', () => {
    const parent = principal({ ceiling: ceiling('unrestricted', ['delete']) });
    const child = principalForSubagent(parent, { agentSlug: 'editor', ceiling: ceiling(['chat', 'delete']) });
    expect(permitted(child)).toEqual(['chat']);
  });

  it('narrows further at every level of nesting', () => {
    const root = principal();
    const first = principalForSubagent(root, { agentSlug: 'planner', ceiling: ceiling(['chat', 'search', 'publish']) });
    const second = principalForSubagent(first, { agentSlug: 'editor', ceiling: ceiling('unrestricted', ['publish']) });
    const third = principalForSubagent(second, { agentSlug: 'checker', ceiling: ceiling(['search', 'delete']) });
    expect([root, first, second, third].map(permitted)).toEqual([
      everything,
      ['chat', 'search', 'publish'],
      ['chat', 'search'],
      ['search'],
    ]);
    expect(third.callerChain).toEqual(['writer', 'planner', 'editor']);
  });

  it('never permits at a deeper level what a shallower level refuses', () => {
    const requests = [ceiling(['chat', 'search']), ceiling('unrestricted'), ceiling(['chat', 'search', 'publish'], ['chat'])];
    let current = principal({ ceiling: ceiling('unrestricted', ['delete']) });
    for (const [index, requested] of requests.entries()) {
      const child = principalForSubagent(current, { agentSlug: `agent-${index}`, ceiling: requested });
      for (const capability of permitted(child)) expect(can(current, capability, everything)).toBe(true);
      current = child;
    }
    expect(permitted(current)).toEqual(['search']);
  });

  it('allows a chain of exactly the maximum depth', () => {
    expect(nested(principal(), maxCallerChainDepth).callerChain).toHaveLength(16);
  });

  it('throws principal.chain_too_deep one level beyond the maximum', () => {
    const deepest = nested(principal(), maxCallerChainDepth);
    const error = thrownBy(() => principalForSubagent(deepest, { agentSlug: 'one-too-many' }));
    expect(error.code).toBe('principal.chain_too_deep');
    expect(error.details).toMatchObject({ agentSlug: 'one-too-many', maxDepth: 16 });
    expect(error.details?.['callerChain']).toHaveLength(17);
  });

  it('throws principal.invalid for an empty agent slug', () => {
    expect(thrownBy(() => principalForSubagent(principal(), { agentSlug: '' })).code).toBe('principal.invalid');
  });

  it('throws principal.invalid for a malformed requested ceiling', () => {
    const error = thrownBy(() =>
      // @ts-expect-error `allowed` is a list of capabilities; a JavaScript caller can still pass anything
      principalForSubagent(principal(), { agentSlug: 'editor', ceiling: { allowed: 'everything', denied: [] } }),
    );
    expect(error.code).toBe('principal.invalid');
    expect(error.message).toContain('requested subagent ceiling');
  });

  it('leaves the parent unchanged', () => {
    const parent = principal({ ceiling: ceiling(['chat']) });
    principalForSubagent(parent, { agentSlug: 'editor', ceiling: ceiling([], ['chat']) });
    expect(parent).toEqual(principal({ ceiling: ceiling(['chat']) }));
  });
});

describe('intersectCeilings', () => {
  it('keeps only what both lists allow', () => {
    expect(intersectCeilings(ceiling(['chat', 'search']), ceiling(['search', 'publish'])).allowed).toEqual(['search']);
  });

  it('treats unrestricted as no constraint', () => {
    expect(intersectCeilings(ceiling('unrestricted'), ceiling(['chat'])).allowed).toEqual(['chat']);
    expect(intersectCeilings(ceiling(['chat']), ceiling('unrestricted')).allowed).toEqual(['chat']);
  });

  it('stays unrestricted only when both are', () => {
    expect(intersectCeilings(ceiling('unrestricted'), ceiling('unrestricted')).allowed).toBe('unrestricted');
  });

  it('allows nothing when the lists share nothing', () => {
    expect(intersectCeilings(ceiling(['chat']), ceiling(['search'])).allowed).toEqual([]);
  });

  it('denies what either denies, each once', () => {
    expect(intersectCeilings(ceiling('unrestricted', ['publish', 'delete']), ceiling('unrestricted', ['delete', 'chat'])).denied).toEqual([
      'publish',
      'delete',
      'chat',
    ]);
  });

  it('lets a denial win over the other side allowing it', () => {
    const result = intersectCeilings(ceiling(['chat', 'publish']), ceiling('unrestricted', ['publish']));
    expect(can(principal({ ceiling: result }), 'publish', everything)).toBe(false);
  });

  it('returns a frozen ceiling', () => {
    const result = intersectCeilings(ceiling(['chat']), ceiling(['chat']));
    expect(Object.isFrozen(result)).toBe(true);
    expect(Object.isFrozen(result.allowed)).toBe(true);
    expect(Object.isFrozen(result.denied)).toBe(true);
  });
});

describe('isValidPrincipal', () => {
  it('accepts a principal made by createPrincipal or principalForSubagent, and a valid plain object', () => {
    const made = createPrincipal(testPrincipal());
    expect(isValidPrincipal(made)).toBe(true);
    expect(isValidPrincipal(principalForSubagent(made, { agentSlug: 'helper-2' }))).toBe(true);
    expect(isValidPrincipal(testPrincipal())).toBe(true);
  });

  it('refuses anything else', () => {
    expect(isValidPrincipal(testPrincipal({ agentSlug: '' }))).toBe(false);
    expect(isValidPrincipal({ ...createPrincipal(testPrincipal()), authSource: 'magic' })).toBe(false);
    expect(isValidPrincipal(null)).toBe(false);
  });

  it('refuses a plain object without tenantId: only createPrincipal defaults it', () => {
    const { tenantId: _omitted, ...withoutTenant } = testPrincipal();
    expect(isValidPrincipal(withoutTenant)).toBe(false);
  });
});

describe('createPrincipal with defaults', () => {
  it('needs only a user and an agent', () => {
    expect(createPrincipal({ userId: 'user-1', agentSlug: 'writer' })).toEqual({
      userId: 'user-1',
      tenantId: null,
      agentSlug: 'writer',
      authSource: 'runtime',
      requestContext: 'cli',
      tokenId: null,
      ceiling: { allowed: [], denied: [] },
      callerChain: [],
    });
  });

  it('grants no capability by default, so a tool that declares one needs a ceiling that names it', () => {
    expect(permitted(createPrincipal({ userId: 'user-1', agentSlug: 'writer' }))).toEqual([]);
  });

  it('is autonomous by default, so write tools need an explicit opt-in', () => {
    expect(isAutonomous(createPrincipal({ userId: 'user-1', agentSlug: 'writer' }))).toBe(true);
  });

  it('keeps every field that is given and fills only those left out or undefined', () => {
    const subject = createPrincipal({ userId: null, agentSlug: 'writer', authSource: 'user', requestContext: undefined, ceiling: ceiling(['chat']) });
    expect(subject).toMatchObject({ userId: null, authSource: 'user', requestContext: 'cli', ceiling: { allowed: ['chat'], denied: [] } });
  });

  it('still refuses a principal without an agent', () => {
    expect(thrownBy(() => createPrincipal({ userId: 'user-1' }))).toMatchObject({ code: 'principal.invalid' });
  });
});
