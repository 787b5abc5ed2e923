import { HandlerError } from '../handler-error';
import type { HandlerHttpResponse } from './handler-http-client';

/**
 * Throws for a response that is not 2xx or 3xx: a 4xx is `handler.remote_rejected`
 * (permanent), anything else `handler.remote_failed` (retryable). The remote's
 * message rides in `details.remote`, cut to 500 characters.
 */
export function throwForStatus(response: HandlerHttpResponse, who: string): void {
  if (response.status < 400) return;
  const details = { status: response.status, remote: response.text().slice(0, 500) };
  if (response.status < 500) throw new HandlerError('handler.remote_rejected', `${who} refused the request with ${response.status}.`, false, { details });
  throw new HandlerError('handler.remote_failed', `${who} failed with ${response.status}.`, true, { details });
}
