import type { Principal } from '../../src/permissions/principal';

/** A user acting in chat with no ceiling, for tests; `overrides` change any field. */
export function testPrincipal(overrides: Partial<Principal> = {}): Principal {
  return {
    userId: 'user-1',
    tenantId: null,
    agentSlug: 'helper',
    authSource: 'user',
    requestContext: 'chat',
    tokenId: null,
    ceiling: { allowed: 'unrestricted', denied: [] },
    callerChain: [],
    ...overrides,
  };
}
