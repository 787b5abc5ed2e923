/** A failure as the server reports it: `{ error: { code, message, details } }`, with the HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(status: number, code: string, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Turns an error body (or anything else a failed request gave) into an {@link ApiError}. */
export function toApiError(status: number, body: unknown): ApiError {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const error = (body as { error: unknown }).error;
    if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
      const message = 'message' in error && typeof error.message === 'string' ? error.message : 'The request failed.';
      const details = 'details' in error && typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : undefined;
      return new ApiError(status, error.code, message, details);
    }
  }
  return new ApiError(status, status === 0 ? 'network.unreachable' : 'http.unexpected', status === 0 ? 'The server cannot be reached.' : `The server answered ${status}.`);
}

/** Plain words for the kinds of refusal, shown before the server's own message. */
export function describeError(error: unknown): { title: string; code: string; message: string } {
  if (!(error instanceof ApiError)) {
    return { title: 'Connection lost', code: 'network.unreachable', message: error instanceof Error ? error.message : 'The server cannot be reached.' };
  }
  const title =
    error.status === 0
      ? 'Connection lost'
      : error.status === 401
        ? 'You are signed out'
        : error.status === 403
          ? 'Not permitted'
          : error.status === 404
            ? 'Not found'
            : error.status === 409
              ? 'Conflict'
              : error.status === 429
                ? 'Too many requests'
                : error.status >= 500
                  ? 'The server failed'
                  : 'Not accepted';
  return { title, code: error.code, message: error.message };
}

/** The field paths a 400 `input.invalid` names (`body.slug` is reported as `slug`). */
export function invalidFields(error: unknown): ReadonlyMap<string, string> {
  const fields = new Map<string, string>();
  if (!(error instanceof ApiError) || !Array.isArray(error.details?.issues)) return fields;
  for (const issue of error.details.issues as unknown[]) {
    if (typeof issue !== 'object' || issue === null || !('path' in issue) || typeof issue.path !== 'string') continue;
    const message = 'message' in issue && typeof issue.message === 'string' ? issue.message : 'invalid';
    fields.set(issue.path.replace(/^body\./, ''), message);
  }
  return fields;
}
