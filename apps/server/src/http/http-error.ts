/** Codes the HTTP layer itself produces (the packages' codes are theirs). */
export const httpErrorCodes = ['request.invalid', 'request.too_large', 'request.uri_too_long', 'request.rate_limited', 'route.not_found', 'auth.required', 'tenant.required', 'model.not_configured', 'csrf.invalid', 'memory.precondition_required', 'internal'] as const;
export type HttpErrorCode = (typeof httpErrorCodes)[number];

/** A refusal made by the HTTP layer (no credentials, no tenant named, no CSRF token with a cookie); mapped by the one status table. */
export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: HttpErrorCode, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.details = details;
  }
}
