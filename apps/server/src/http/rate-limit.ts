import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DataMachineContext } from 'data-machine';
import { requestIdentity } from './authentication';
import { HttpError } from './http-error';

/** How many requests one caller may send per window. */
export interface RateLimitOptions {
  /** Requests allowed per window and caller. */
  readonly max: number;
  /** The window, in milliseconds. */
  readonly windowMs: number;
}

/** The default: 600 requests a minute per token (or address). */
export const defaultRateLimit: RateLimitOptions = { max: 600, windowMs: 60_000 };

// Liveness, readiness and scraping are never limited: an orchestrator must always reach them.
const unlimitedRoutes = new Set(['/health', '/ready', '/metrics']);

/**
 * Limits each caller to `max` requests per window: a request with a valid
 * bearer token counts against that token (personal or agent), any other
 * against the client address, so inventing tokens does not buy a fresh
 * budget. Over the limit is 429 `request.rate_limited` in the one error shape,
 * with `retry-after` in seconds. Counters are kept in this process's memory.
 * Register before the routes.
 */
export async function registerRateLimit(app: FastifyInstance, context: DataMachineContext, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: options.max,
    timeWindow: options.windowMs,
    keyGenerator: (request) => rateLimitKey(context, request),
    allowList: (request) => unlimitedRoutes.has(request.routeOptions.url ?? ''),
    errorResponseBuilder: (_request, limit) =>
      new HttpError('request.rate_limited', `Too many requests: at most ${limit.max} per ${options.windowMs / 1000} s; retry after ${Math.ceil(limit.ttl / 1000)} s.`, {
        limit: limit.max,
        retryAfterSeconds: Math.ceil(limit.ttl / 1000),
      }),
  });
}

/** The bucket a request counts against: its authenticated token, or its client address. */
async function rateLimitKey(context: DataMachineContext, request: FastifyRequest): Promise<string> {
  try {
    const identity = await requestIdentity(context, request);
    return identity.kind === 'user' ? `token:${identity.tokenId}` : `token:${identity.actor.tokenId}`;
  } catch {
    // No credentials, or ones that do not authenticate: the route answers 401 itself.
    return `address:${request.ip}`;
  }
}
