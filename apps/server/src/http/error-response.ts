import { AgentsApiError, type AgentsApiErrorCode } from '@data-machine/agents-api';
import { DataMachineError, describeInputIssues, type DataMachineErrorCode } from 'data-machine';
import { HttpError, type HttpErrorCode } from './http-error';
import { RequestInputError } from './request-validation';

/** The body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: Readonly<Record<string, unknown>> };
}

/**
 * The one table from error code to HTTP status. Every code a package can
 * throw is listed, so adding a code without deciding its status fails typecheck.
 */
export const errorStatus: Readonly<Record<AgentsApiErrorCode | DataMachineErrorCode | HttpErrorCode, number>> = {
  'request.invalid': 400,
  'request.too_large': 413,
  'request.uri_too_long': 414,
  'request.rate_limited': 429,
  'route.not_found': 404,
  'auth.required': 401,
  'tenant.required': 400,
  // Chat and /v1 without OPENAI_BASE_URL or OPENAI_API_KEY: the server, not the caller, lacks it.
  'model.not_configured': 503,
  // A cookie-authenticated change without the session's CSRF token: the caller is known, the request refused.
  'csrf.invalid': 403,
  // A memory save that names no version to replace: lost updates are refused by construction.
  'memory.precondition_required': 428,
  internal: 500,
  'agent.invalid_definition': 400,
  'agent.not_found': 404,
  'registry.closed': 409,
  'registry.duplicate_agent': 409,
  'registry.not_initialized': 503,
  'registry.init_failed': 500,
  'message.invalid': 400,
  // A provider failure is the upstream model's, not the caller's: a gateway status.
  'provider.auth_failed': 502,
  'provider.rate_limited': 503,
  'provider.timeout': 504,
  'provider.unavailable': 502,
  'provider.bad_request': 502,
  'provider.bad_response': 502,
  'provider.cancelled': 499,
  'tool.invalid_definition': 400,
  'tool.source_failed': 502,
  'principal.invalid': 400,
  'principal.chain_too_deep': 400,
  'runner.invalid_request': 400,
  'runner.persist_failed': 500,
  'runner.seam_failed': 500,
  'memory.invalid_scope': 400,
  'memory.invalid_content': 400,
  'memory.conflict': 409,
  'memory.store_failed': 503,
  'transcript.invalid_request': 400,
  'transcript.session_not_found': 404,
  'transcript.session_exists': 409,
  'transcript.session_locked': 409,
  'transcript.not_durable': 409,
  'transcript.store_failed': 503,
  'transcript.lease_lost': 409,
  'transcript.duplicate_message': 409,
  'transcript.run_not_found': 404,
  'database.migration_failed': 500,
  // data-machine: identity and access
  'input.invalid': 400,
  'access.denied': 403,
  'access.ambiguous_agent': 400,
  'tenant.not_found': 404,
  'tenant.slug_taken': 409,
  'user.not_found': 404,
  'user.email_taken': 409,
  'membership.not_found': 404,
  'agent.slug_taken': 409,
  'agent.limit_reached': 409,
  'agent.protected': 409,
  'agent.registry_conflict': 409,
  'agent.busy': 409,
  'memory.not_found': 404,
  'session.not_found': 404,
  'session.busy': 409,
  'grant.not_found': 404,
  'template.is_install': 409,
  'template.not_catalog': 409,
  'template.target_is_catalog': 409,
  'token.invalid': 401,
  'token.expired': 401,
  'token.revoked': 401,
  // console sign-in
  'login_link.invalid': 401,
  'login_link.expired': 401,
  'login_link.used': 401,
  'console_session.invalid': 401,
  'console_session.expired': 401,
  'console_session.revoked': 401,
  // data-machine: jobs, queues, logs
  'flow.not_found': 404,
  'job.not_found': 404,
  'job.ended': 409,
  'job.not_retryable': 409,
  'undo.not_found': 404,
  'undo.in_progress': 409,
  'undo.job_live': 409,
  'job.not_waiting': 409,
  'queue.unknown_step': 404,
  'queue.entry_not_found': 404,
  // data-machine: pipelines, flows and handlers
  'handler.not_found': 404,
  // Registering two handlers with one slug, or a malformed one, is the host's bug, found at start-up.
  'handler.duplicate': 500,
  'handler.invalid_definition': 500,
  'pipeline.not_found': 404,
  'pipeline.slug_taken': 409,
  'pipeline.invalid_steps': 400,
  'pipeline.in_use': 409,
  'flow.slug_taken': 409,
  'flow.invalid_config': 400,
  'flow.unknown_step': 404,
  // data-machine: the ai step (reach HTTP only through a job's error)
  'ai.invalid_input': 400,
  'ai.tool_denied': 403,
  'ai.missing_tool_call': 502,
  'ai.unavailable': 503,
  'ai.run_failed': 502,
  'ai.run_incomplete': 409,
  'ai.cancelled': 503,
  // Handler calls (issue 13): what the remote did is a gateway status; what the flow asked for, the caller's.
  'handler.invalid_url': 400,
  'handler.address_refused': 400,
  'handler.invalid_input': 400,
  'handler.secret_missing': 400,
  'handler.identity_busy': 409,
  'handler.cancelled': 503,
  'handler.timeout': 504,
  'handler.response_too_large': 502,
  'handler.too_many_redirects': 502,
  'handler.request_failed': 502,
  'handler.remote_rejected': 502,
  'handler.remote_failed': 502,
  'handler.invalid_response': 502,
  'handler.feed_invalid': 502,
  // data-machine: inbound webhooks and uploaded files
  // The signature is the authentication: every way of not having it is one 401, an unknown flow included.
  'webhook.unauthorized': 401,
  'webhook.stale_timestamp': 401,
  'webhook.payload_too_large': 413,
  'webhook.invalid_payload': 400,
  'webhook.not_found': 404,
  'webhook.no_entry_step': 409,
  'webhook.replayed': 409,
  'file.not_found': 404,
  'file.too_large': 413,
  // data-machine: the job engine (these end jobs; a request meets only engine.unavailable)
  'engine.unavailable': 503,
  'step.not_registered': 500,
  'step.failed': 502,
  'step.unsafe_retry': 409,
  'step.unsupported': 400,
  'webhook_gate.timed_out': 409,
  'secret.not_found': 404,
  'secret.unreadable': 409,
  'approval.not_found': 404,
  'approval.already_resolved': 409,
  // Past its expiry the action is rejected by the sweep; a decision can no longer be taken.
  'approval.expired': 410,
  'approval.pending': 409,
  'approval.not_accepted': 409,
  // A link that is not ours, was altered, or is for another action or decision: refused without saying which.
  'approval.link_invalid': 403,
  'approval.link_expired': 410,
};

/** An error as the client sees it: a status and a body without stack or internals. */
export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
  /** Whether this is our failure (log it) rather than the caller's. */
  readonly unexpected: boolean;
}

/** Turns anything thrown while handling a request into the response the client gets. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (AgentsApiError.isInstance(error) || DataMachineError.isInstance(error) || error instanceof HttpError) {
    const status = errorStatus[error.code];
    return {
      status,
      body: { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } },
      unexpected: status >= 500,
    };
  }
  if (error instanceof RequestInputError) {
    // The same shape the packages give a bad input: the field path and what is wrong with it.
    // Fastify names the query string `querystring`; clients know it as the query.
    const part = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'request');
    const issues = error.issues.map((issue) => ({ path: issue.path === '' ? part : `${part}.${issue.path}`, message: issue.message }));
    return { status: 400, body: { error: { code: 'input.invalid', message: describeInputIssues(part, issues), details: { issues } } }, unexpected: false };
  }
  if (isFastifyClientError(error)) {
    const sized = error.statusCode === 413 ? 'request.too_large' : error.statusCode === 414 ? 'request.uri_too_long' : undefined;
    if (sized !== undefined) return { status: error.statusCode, body: { error: { code: sized, message: error.message.slice(0, 200) } }, unexpected: false };
    return { status: error.statusCode, body: { error: { code: 'request.invalid', message: error.message } }, unexpected: false };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'Internal error' } }, unexpected: true };
}

/** Fastify's own 4xx errors: bad JSON, a body too large, a failed schema. */
function isFastifyClientError(error: unknown): error is Error & { statusCode: number } {
  if (!(error instanceof Error) || !('statusCode' in error)) return false;
  const status = error.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}
