import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { deleteAgentSecret, listAgentSecrets, secretNameSchema, secretValueSchema, setAgentSecret, type AgentSecretSummary, type DataMachineContext, type SecretBox } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { agentParams } from './agent-routes';
import { bearer, instant, instantSchema, scopedErrors } from './schemas';

const secretSchema = z.object({ name: z.string(), createdAt: instantSchema, updatedAt: instantSchema });
const secretBody = (secret: AgentSecretSummary): z.output<typeof secretSchema> => ({ name: secret.name, createdAt: instant(secret.createdAt), updatedAt: instant(secret.updatedAt) });
const secretParams = agentParams.extend({ name: secretNameSchema });

/**
 * An agent's handler credentials (`/agents/{agent}/secrets`): set by the
 * agent's admins, listed by name to anyone who sees the agent. No response
 * ever holds a value, and request logs never carry bodies.
 */
export function registerSecretRoutes(app: FastifyInstance, context: DataMachineContext, box: SecretBox): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['secrets'];

  routes.get(
    '/agents/:agent/secrets',
    { schema: { tags, security: bearer, summary: "The agent's handler secrets, by name (never their values)", params: agentParams, response: { 200: z.object({ secrets: z.array(secretSchema) }), ...scopedErrors } } },
    async (request) => ({ secrets: (await listAgentSecrets(context, await requestScope(context, request), request.params.agent)).map(secretBody) }),
  );

  routes.put(
    '/agents/:agent/secrets/:name',
    {
      schema: {
        tags,
        security: bearer,
        summary: 'Set a handler secret (a WordPress application password, an API token); stored sealed, never shown again',
        params: secretParams,
        body: z.object({ value: secretValueSchema }).strict(),
        response: { 200: secretSchema, ...scopedErrors },
      },
    },
    async (request) => secretBody(await setAgentSecret(context, box, await requestScope(context, request), request.params.agent, request.params.name, request.body.value)),
  );

  routes.delete(
    '/agents/:agent/secrets/:name',
    { schema: { tags, security: bearer, summary: 'Delete a handler secret', params: secretParams, response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      await deleteAgentSecret(context, await requestScope(context, request), request.params.agent, request.params.name);
      return reply.code(204).send(null);
    },
  );
}
