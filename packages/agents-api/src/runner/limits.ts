import { AgentsApiError } from '../errors';
import type { ConversationLimits } from './conversation-runner';

/** Limits with every default filled in; `undefined` means unbounded. */
export interface ResolvedLimits {
  readonly maxTurns: number;
  readonly maxToolCalls: number | undefined;
  readonly maxCallsPerTool: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly maxTokens: number | undefined;
  readonly toolConcurrency: number;
  readonly maxToolResultChars: number;
  readonly maxRepeatedFailures: number;
}

/** The defaults of the built-in loop. */
export const defaultLimits = {
  maxTurns: 10,
  toolConcurrency: 4,
  maxToolResultChars: 16_000,
  maxRepeatedFailures: 3,
} as const;

const defaultResolvedLimits: ResolvedLimits = Object.freeze({
  maxTurns: defaultLimits.maxTurns,
  maxToolCalls: undefined,
  maxCallsPerTool: undefined,
  timeoutMs: undefined,
  maxTokens: undefined,
  toolConcurrency: defaultLimits.toolConcurrency,
  maxToolResultChars: defaultLimits.maxToolResultChars,
  maxRepeatedFailures: defaultLimits.maxRepeatedFailures,
});

/**
 * Fills in defaults and checks every limit is a positive whole number.
 *
 * @throws AgentsApiError `runner.invalid_request` naming the bad limit.
 */
export function resolveLimits(limits?: ConversationLimits): ResolvedLimits {
  if (limits === undefined) return defaultResolvedLimits;
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1)) {
      throw new AgentsApiError('runner.invalid_request', `Limit ${name} must be a positive whole number (got ${String(value)})`, {
        details: { limit: name },
      });
    }
  }
  return {
    maxTurns: limits.maxTurns ?? defaultLimits.maxTurns,
    maxToolCalls: limits.maxToolCalls,
    maxCallsPerTool: limits.maxCallsPerTool,
    timeoutMs: limits.timeoutMs,
    maxTokens: limits.maxTokens,
    toolConcurrency: limits.toolConcurrency ?? defaultLimits.toolConcurrency,
    maxToolResultChars: limits.maxToolResultChars ?? defaultLimits.maxToolResultChars,
    maxRepeatedFailures: limits.maxRepeatedFailures ?? defaultLimits.maxRepeatedFailures,
  };
}
