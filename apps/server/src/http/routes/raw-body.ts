import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Makes every request body in `scope` (an encapsulated plugin) a Buffer of
 * its raw bytes, whatever its content type, capped at `bodyLimit` (a larger
 * one is 413 `request.too_large`). Routes that sign or store bytes (an
 * inbound webhook's HMAC, an uploaded file) need exactly what was sent,
 * which a JSON parse would lose; other routes keep the app's parsers.
 */
export function parseRawBodies(scope: FastifyInstance, bodyLimit: number): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
}

/** The raw body of a request in a {@link parseRawBodies} scope; empty when none was sent. */
export function rawBody(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}
