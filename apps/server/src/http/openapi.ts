import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler } from 'fastify-type-provider-zod';
import { requestValidatorCompiler } from './request-validation';

/**
 * Routes declare zod schemas for params, query, body and responses; this
 * makes Fastify validate and serialise with them and renders the OpenAPI 3.1
 * document from them, served at `/openapi.json` and browsable at `/docs`.
 * Register before the routes.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.setValidatorCompiler(requestValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Data Machine', description: 'Agents as scoped, durable citizens, and automation on them.', version: '0.0.0' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A personal access token (dmpt_…) or an agent token (dmat_…)' },
          // Every route that takes a bearer token also takes this cookie (when the console is served); see console-sessions.ts.
          consoleSession: { type: 'apiKey', in: 'cookie', name: 'dm_session', description: 'The web console session, accepted wherever a bearer token is; a change also sends its CSRF token as x-csrf-token' },
        },
      },
    },
    transform: jsonSchemaTransform,
    hideUntagged: false,
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
