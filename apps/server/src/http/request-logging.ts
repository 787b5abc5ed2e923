import { randomUUID } from 'node:crypto';
import { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';

/** Names whose values pino hides, at the top of a logged object and one level down. */
const secretNames = ['authorization', 'cookie', 'password', 'secret', 'token', 'apiKey', 'secretKey'];

/** What pino hides wherever it appears in a logged object. */
export const redactedPaths = ['req.headers.authorization', 'req.headers.cookie', ...secretNames, ...secretNames.map((name) => `*.${name}`)];

/** An incoming request id is kept when it is short and plain; otherwise the server makes one. */
const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Fastify options that shape request ids and logging (see {@link registerRequestLogging}). */
export function requestLoggingOptions(): Pick<FastifyServerOptions, 'logController' | 'genReqId' | 'requestIdHeader'> {
  return {
    // Fastify's own request lines are off: registerRequestLogging writes one line per request.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
    },
  };
}

/**
 * One log line per request, when it ends: request id, method, route (the
 * pattern, not the URL with its ids), status and duration. The id is sent
 * back in `x-request-id`.
 */
export function registerRequestLogging(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });
}
