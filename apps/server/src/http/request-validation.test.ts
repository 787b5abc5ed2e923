import Fastify, { type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toErrorResponse } from './error-response';
import { requestValidatorCompiler } from './request-validation';

describe('request validation', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    app.setValidatorCompiler(requestValidatorCompiler);
    app.setErrorHandler((error, _request, reply) => {
      const response = toErrorResponse(error);
      return reply.code(response.status).send(response.body);
    });
    app.withTypeProvider<ZodTypeProvider>().post(
      '/things',
      {
        schema: {
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).optional() }),
          body: z.strictObject({ name: z.string().min(1), status: z.enum(['on', 'off']).optional() }),
        },
      },
      () => ({ ok: true }),
    );
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers limit=abc with what was sent, in the error body every route shares', async () => {
    const response = await app.inject({ method: 'POST', url: '/things?limit=abc', payload: { name: 'x' } });
    expect([response.statusCode, response.json()]).toEqual([
      400,
      {
        error: {
          code: 'input.invalid',
          message: 'Invalid query: query.limit: must be a number, not "abc"',
          details: { issues: [{ path: 'query.limit', message: 'must be a number, not "abc"' }] },
        },
      },
    ]);
  });

  it('names every bad field of a body, the first in the message', async () => {
    const response = await app.inject({ method: 'POST', url: '/things', payload: { status: 'maybe', extra: 1 } });
    expect(response.json()).toEqual({
      error: {
        code: 'input.invalid',
        message: 'Invalid body: body.name: is required (and 2 more)',
        details: {
          issues: [
            { path: 'body.name', message: 'is required' },
            { path: 'body.status', message: 'must be one of "on", "off", not "maybe"' },
            { path: 'body', message: 'unknown field "extra"' },
          ],
        },
      },
    });
  });

  it('passes a valid request through with the parsed values', async () => {
    const response = await app.inject({ method: 'POST', url: '/things?limit=5', payload: { name: 'x' } });
    expect([response.statusCode, response.json()]).toEqual([200, { ok: true }]);
  });
});
