import type { HandlerContext } from '../handler';
import { HandlerError } from '../handler-error';

/** The call's secret, or `handler.secret_missing` (permanent: a retry will not bring one). */
export function requireSecret(call: HandlerContext, handler: string): string {
  if (call.secret === undefined || call.secret.length === 0) {
    throw new HandlerError('handler.secret_missing', `The ${handler} handler needs its secret, and the flow has none set.`, false, { details: { handler } });
  }
  return call.secret;
}
