/** Every stable error code `data-machine` throws; hosts map each to a status in one table. */
export const dataMachineErrorCodes = [
  // input
  'input.invalid',
  // identity and access
  'access.denied',
  'access.ambiguous_agent',
  'tenant.not_found',
  'tenant.slug_taken',
  'user.not_found',
  'user.email_taken',
  'membership.not_found',
  'agent.not_found',
  'agent.slug_taken',
  'agent.limit_reached',
  'agent.protected',
  'agent.registry_conflict',
  'agent.busy',
  // an agent's memory files (the store's own codes, memory.conflict among them, are the substrate's)
  'memory.not_found',
  'grant.not_found',
  'template.is_install',
  'template.not_catalog',
  'template.target_is_catalog',
  'token.invalid',
  'token.expired',
  'token.revoked',
  // console sign-in: one-time login links and cookie sessions
  'login_link.invalid',
  'login_link.expired',
  'login_link.used',
  'console_session.invalid',
  'console_session.expired',
  'console_session.revoked',
  // chat sessions (transcripts as product records)
  'session.not_found',
  'session.busy',
  // jobs, queues, logs (issue 12)
  'flow.not_found',
  'job.not_found',
  'job.ended',
  'job.not_retryable',
  'job.not_waiting',
  'queue.unknown_step',
  'queue.entry_not_found',
  // pipelines, flows and handlers
  'handler.not_found',
  'handler.duplicate',
  'handler.invalid_definition',
  'pipeline.not_found',
  'pipeline.slug_taken',
  'pipeline.invalid_steps',
  'pipeline.in_use',
  'flow.slug_taken',
  'flow.invalid_config',
  'flow.unknown_step',
  // the ai step (retryable ones: see retryableAiStepCodes)
  'ai.invalid_input',
  'ai.tool_denied',
  'ai.missing_tool_call',
  'ai.unavailable',
  'ai.run_failed',
  'ai.run_incomplete',
  'ai.cancelled',
  // handler calls (issue 13): HandlerError carries whether a retry may pass
  'handler.invalid_url',
  'handler.address_refused',
  'handler.timeout',
  'handler.cancelled',
  'handler.response_too_large',
  'handler.too_many_redirects',
  'handler.request_failed',
  'handler.remote_rejected',
  'handler.remote_failed',
  'handler.invalid_response',
  'handler.invalid_input',
  'handler.secret_missing',
  'handler.feed_invalid',
  'handler.identity_busy',
  // undo of a job's effects
  'undo.not_found',
  'undo.in_progress',
  'undo.job_live',
  // inbound webhooks and uploaded files
  'webhook.unauthorized',
  'webhook.stale_timestamp',
  'webhook.payload_too_large',
  'webhook.invalid_payload',
  'webhook.not_found',
  'webhook.no_entry_step',
  'webhook.replayed',
  'file.not_found',
  'file.too_large',
  // the job engine
  'engine.unavailable',
  'step.not_registered',
  'step.failed',
  'step.unsafe_retry',
  'step.unsupported',
  'webhook_gate.timed_out',
  // handler secrets
  'secret.not_found',
  'secret.unreadable',
  // human approval of held tool calls
  'approval.not_found',
  'approval.already_resolved',
  'approval.expired',
  // a chat session waits for the decision on an action its last turn held
  'approval.pending',
  // a held chat call ran without an accepted action for exactly that call
  'approval.not_accepted',
  'approval.link_invalid',
  'approval.link_expired',
] as const;

/** A stable, dotted error code: `area.problem`. */
export type DataMachineErrorCode = (typeof dataMachineErrorCodes)[number];

/** Options of {@link DataMachineError}. */
export interface DataMachineErrorOptions {
  /** Machine-readable context, safe to show to the caller. */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

const marker = Symbol.for('data-machine/error');

/**
 * The base of every error `data-machine` throws: a stable `code`, a message
 * for humans, optional `details` and `cause`. Use {@link DataMachineError.isInstance}
 * rather than `instanceof`: it also recognises errors from another copy of the package.
 */
export class DataMachineError extends Error {
  readonly code: DataMachineErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly [marker] = true;

  constructor(code: DataMachineErrorCode, message: string, options: DataMachineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DataMachineError';
    this.code = code;
    this.details = options.details;
  }

  /** Whether `value` is a DataMachineError, from this copy of the package or any other. */
  static isInstance(value: unknown): value is DataMachineError {
    return typeof value === 'object' && value !== null && (value as { [marker]?: unknown })[marker] === true;
  }
}
