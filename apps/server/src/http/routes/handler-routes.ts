import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { handlerKinds, type DataMachineContext, type Handler, type HandlerRegistry } from 'data-machine';
import { z } from 'zod';
import { requestIdentity } from '../authentication';
import { bearer, errorBodySchema } from './schemas';

const handlerSchema = z.object({
  slug: z.string(),
  kind: z.enum(handlerKinds),
  description: z.string(),
  secretName: z.string().nullable(),
  configSchema: z.record(z.string(), z.unknown()).describe("the JSON schema a flow's configuration of the handler must pass"),
});

/** A handler as the API shows it: its configuration's zod schema rendered as JSON schema. */
function handlerBody(handler: Handler): z.output<typeof handlerSchema> {
  const configSchema = z.toJSONSchema(handler.configSchema, { io: 'input', unrepresentable: 'any' });
  return { slug: handler.slug, kind: handler.kind, description: handler.description, secretName: handler.secretName ?? null, configSchema };
}

/** The handlers this server offers pipelines. The same for every tenant; any authenticated caller may read them. */
export function registerHandlerRoutes(app: FastifyInstance, context: DataMachineContext, handlers: HandlerRegistry): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/handlers',
    {
      schema: {
        tags: ['handlers'],
        security: bearer,
        summary: 'The handlers pipelines can name, with their configuration JSON schemas',
        querystring: z.strictObject({ kind: z.enum(handlerKinds).optional() }),
        response: { 200: z.object({ handlers: z.array(handlerSchema) }), 400: errorBodySchema, 401: errorBodySchema, 429: errorBodySchema },
      },
    },
    async (request) => {
      await requestIdentity(context, request);
      return { handlers: handlers.list(request.query.kind).map(handlerBody) };
    },
  );
}
