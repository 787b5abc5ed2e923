import { describe, expect, it } from 'vitest';
import { can, isAutonomous } from './can';
import { testPrincipal } from '../../test/support/principals';
import { authSources, requestContexts, type CapabilityCeiling, type Principal } from './principal';

function principal(overrides: Partial<Principal> = {}): Principal {
  return testPrincipal({ agentSlug: 'writer', ...overrides });
}

function withCeiling(allowed: CapabilityCeiling['allowed'], denied: readonly string[] = []): Principal {
  return principal({ ceiling: { allowed, denied } });
}

describe('can', () => {
  describe('the grant', () => {
    it('permits a granted capability under an unrestricted ceiling', () => {
      expect(can(withCeiling('unrestricted'), 'chat', ['chat'])).toBe(true);
    });

    it('refuses a capability that was not granted, even under an unrestricted ceiling', () => {
      expect(can(withCeiling('unrestricted'), 'publish', ['chat'])).toBe(false);
    });

    it('refuses everything when nothing was granted', () => {
      expect(can(withCeiling('unrestricted'), 'chat', [])).toBe(false);
    });

    it('reads the grant from any iterable', () => {
      expect(can(withCeiling('unrestricted'), 'chat', new Set(['chat']))).toBe(true);
    });
  });

  describe('the ceiling narrows and never widens', () => {
    it('permits a granted capability inside ceiling.allowed', () => {
      expect(can(withCeiling(['chat', 'search']), 'search', ['search'])).toBe(true);
    });

    it('refuses a granted capability outside ceiling.allowed', () => {
      expect(can(withCeiling(['chat']), 'publish', ['chat', 'publish'])).toBe(false);
    });

    it('refuses a capability in ceiling.allowed that was not granted', () => {
      expect(can(withCeiling(['chat', 'publish']), 'publish', ['chat'])).toBe(false);
    });

    it('refuses everything under an empty ceiling.allowed', () => {
      expect(can(withCeiling([]), 'chat', ['chat'])).toBe(false);
    });
  });

  describe('deny wins', () => {
    it('over the grant, under an unrestricted ceiling', () => {
      expect(can(withCeiling('unrestricted', ['publish']), 'publish', ['publish'])).toBe(false);
    });

    it('over ceiling.allowed and the grant together', () => {
      expect(can(withCeiling(['publish'], ['publish']), 'publish', ['publish'])).toBe(false);
    });

    it('only for the capabilities it names', () => {
      expect(can(withCeiling('unrestricted', ['publish']), 'chat', ['chat', 'publish'])).toBe(true);
    });
  });

  it('matches capability names exactly', () => {
    expect(can(withCeiling('unrestricted'), 'chat', ['Chat', 'chat:read'])).toBe(false);
  });
});

describe('isAutonomous', () => {
  it.each(requestContexts.filter((context) => context !== 'schedule'))('is false for a user in a %s request', (requestContext) => {
    expect(isAutonomous(principal({ authSource: 'user', requestContext }))).toBe(false);
  });

  it.each(authSources.filter((source) => source !== 'user'))('is true for a %s principal', (authSource) => {
    expect(isAutonomous(principal({ authSource, requestContext: 'chat' }))).toBe(true);
  });

  it('is true for a user in a scheduled request', () => {
    expect(isAutonomous(principal({ authSource: 'user', requestContext: 'schedule' }))).toBe(true);
  });

  it('is true for a token in a scheduled request', () => {
    expect(isAutonomous(principal({ authSource: 'token', tokenId: 'token-1', requestContext: 'schedule' }))).toBe(true);
  });
});
