/** Every stable error code this package throws; callers and hosts branch on these. */
export const agentsApiErrorCodes = [
  // agent definitions and the registry
  'agent.invalid_definition',
  'agent.not_found',
  'registry.closed',
  'registry.duplicate_agent',
  'registry.not_initialized',
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
  readonly [marker] = true;

  constructor(code: AgentsApiErrorCode, message: string, options: AgentsApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentsApiError';
    this.code = code;
    this.details = options.details;
  }

  /** Whether `value` is an AgentsApiError, from this copy of the package or any other. */
  static isInstance(value: unknown): value is AgentsApiError {
    return typeof value === 'object' && value !== null && (value as { [marker]?: unknown })[marker] === true;
  }
}
