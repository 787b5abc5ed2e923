/** Every stable error code this package throws; callers and hosts branch on these. */
export const agentsApiErrorCodes = [
  // agent definitions and the registry
  'agent.invalid_definition',
  'agent.not_found',
  'registry.closed',
  'registry.duplicate_agent',
  'registry.not_initialized',
  'registry.init_failed',
  // messages from outside
  'message.invalid',
  // the model provider
  'provider.auth_failed',
  'provider.rate_limited',
  'provider.timeout',
  'provider.unavailable',
  'provider.bad_request',
  'provider.bad_response',
  'provider.cancelled',
  // tools
  'tool.invalid_definition',
  'tool.source_failed',
  // acting context and the permission ceiling
  'principal.invalid',
  'principal.chain_too_deep',
  // the conversation runner
  'runner.invalid_request',
  'runner.persist_failed',
  'runner.seam_failed',
  // memory files
  'memory.invalid_scope',
  'memory.invalid_content',
  'memory.conflict',
  'memory.store_failed',
  // transcripts and durable sessions
  'transcript.invalid_request',
  'transcript.session_not_found',
  'transcript.session_exists',
  'transcript.session_locked',
  'transcript.not_durable',
  'transcript.store_failed',
  'transcript.lease_lost',
  'transcript.duplicate_message',
  'transcript.run_not_found',
  // databases
  'database.migration_failed',
] as const;

/** A stable, dotted error code: `area.problem`. */
export type AgentsApiErrorCode = (typeof agentsApiErrorCodes)[number];

/**
 * The codes of failures that may pass if the same work is tried again later:
 * the model timed out, was unreachable or rate-limited, a store failed or a
 * session was busy. Every other code is not: trying again fails the same way.
 * A job engine's retry rule and a server's status table both read this one table.
 */
const retryableErrorCodes: ReadonlySet<AgentsApiErrorCode> = new Set<AgentsApiErrorCode>([
  'provider.rate_limited',
  'provider.timeout',
  'provider.unavailable',
  'runner.persist_failed',
  'transcript.lease_lost',
  'transcript.session_locked',
  'transcript.store_failed',
  'memory.store_failed',
]);

/** Whether a failure with `code` may pass when tried again (see {@link AgentsApiError.retryable}). */
export function isRetryableCode(code: AgentsApiErrorCode): boolean {
  return retryableErrorCodes.has(code);
}

/** Options of {@link AgentsApiError}. */
export interface AgentsApiErrorOptions {
  /** Machine-readable context, safe to show to the caller. */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

const marker = Symbol.for('@data-machine/agents-api/error');

/**
 * The base of every error this package throws: a stable `code`, a message
 * for humans, optional `details` and `cause`.
 * Use {@link AgentsApiError.isInstance} rather than `instanceof`: it also
 * recognises errors from another copy of the package.
 */
export class AgentsApiError extends Error {
  readonly code: AgentsApiErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** Whether trying the same work again later may succeed; derived from `code` by {@link isRetryableCode}. */
  readonly retryable: boolean;
  readonly [marker] = true;

  constructor(code: AgentsApiErrorCode, message: string, options: AgentsApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentsApiError';
    this.code = code;
    this.details = options.details;
    this.retryable = isRetryableCode(code);
  }

  /** Whether `value` is an AgentsApiError, from this copy of the package or any other. */
  static isInstance(value: unknown): value is AgentsApiError {
    return typeof value === 'object' && value !== null && (value as { [marker]?: unknown })[marker] === true;
  }
}
