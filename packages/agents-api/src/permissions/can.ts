import type { CapabilityCeiling, Principal } from './principal';

/**
 * Whether `principal` may use `capability`, given what its acting user was
 * `granted`. The ceiling only narrows: a capability must be granted, inside
 * `ceiling.allowed` (unless unrestricted), and not in `ceiling.denied`, which
 * always wins.
 *
 * @example
 * can(principal, 'chat', ['chat', 'use_tools']); // false if the token's ceiling denies chat
 */
export function can(principal: Principal, capability: string, granted: Iterable<string>): boolean {
  if (!ceilingAllows(principal.ceiling, capability)) return false;
  for (const grant of granted) if (grant === capability) return true;
  return false;
}

/** Whether a ceiling lets `capability` through: inside `allowed` (or unrestricted) and not `denied`. */
export function ceilingAllows(ceiling: CapabilityCeiling, capability: string): boolean {
  if (ceiling.denied.includes(capability)) return false;
  return ceiling.allowed === 'unrestricted' || ceiling.allowed.includes(capability);
}

/**
 * Whether `principal` acts without a person at the keyboard: an agent
 * token, a runtime, the system, or a schedule. Such a principal gets write
 * tools only by explicit opt-in.
 */
export function isAutonomous(principal: Principal): boolean {
  return principal.authSource !== 'user' || principal.requestContext === 'schedule';
}
