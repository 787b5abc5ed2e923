import { randomUUID } from 'node:crypto';
import { AgentsApiError, type AgentMessage, type ConversationResult, type ModelUsage } from '@data-machine/agents-api';
import { fromOpenAIChatMessages } from '@data-machine/agents-api/openai';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { check, DataMachineError, listAgents, type DataMachineContext } from 'data-machine';
import { z } from 'zod';
import type { ChatService } from '../../chat/chat-service';
import { openEventStream, watchDisconnect } from '../../chat/server-sent-events';
import { requestScope } from '../authentication';
import { toErrorResponse, type ErrorResponse } from '../error-response';
import { drain } from './chat-routes';
import { bearer } from './schemas';

/** The header that names a stored chat session for `/v1/chat/completions` to continue. */
export const sessionIdHeader = 'x-session-id';

/** OpenAI's error body: `type` is OpenAI's class of error, `code` our stable code. */
export const openAIErrorBodySchema = z.object({ error: z.object({ message: z.string(), type: z.string(), code: z.string(), param: z.string().nullable() }) });
type OpenAIErrorBody = z.output<typeof openAIErrorBodySchema>;

const openAIErrors = { 400: openAIErrorBodySchema, 401: openAIErrorBodySchema, 403: openAIErrorBodySchema, 404: openAIErrorBodySchema, 409: openAIErrorBodySchema, 413: openAIErrorBodySchema, 429: openAIErrorBodySchema };

/** Whether a request URL is under `/v1`, where every error is in OpenAI's shape. */
export function isOpenAIPath(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
}

/** OpenAI's name for each kind of failure, by status. */
function openAIErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  return status < 500 ? 'invalid_request_error' : 'api_error';
}

/** An error response of the one table, in OpenAI's shape: the same status and code. */
export function toOpenAIError(response: ErrorResponse): OpenAIErrorBody {
  const { code, message, details } = response.body.error;
  const issues = details?.issues;
  const firstPath = Array.isArray(issues) && typeof (issues[0] as { path?: unknown } | undefined)?.path === 'string' ? (issues[0] as { path: string }).path : null;
  // An issue about the whole value (a malformed x-session-id) has the empty path: OpenAI's "no param" is null.
  return { error: { message, type: openAIErrorType(response.status), code, param: firstPath === '' ? null : firstPath } };
}

const functionToolSchema = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1).max(64),
    description: z.string().max(10_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

/** The fields of a chat completion request this endpoint reads; others (temperature, user…) are accepted and ignored. */
export const chatCompletionBodySchema = z.looseObject({
  /** The agent's slug. */
  model: z.string().min(1).max(200),
  messages: z.array(z.looseObject({ role: z.string() })).min(1).max(1000),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  tools: z.array(functionToolSchema).max(128).optional(),
});
type ChatCompletionBody = z.output<typeof chatCompletionBodySchema>;

const usageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });
const toolCallSchema = z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) });
const completionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number(),
      message: z.object({ role: z.literal('assistant'), content: z.string().nullable(), refusal: z.null(), tool_calls: z.array(toolCallSchema).optional() }),
      finish_reason: z.enum(['stop', 'length', 'tool_calls']),
      logprobs: z.null(),
    }),
  ),
  usage: usageSchema,
});
const modelListSchema = z.object({ object: z.literal('list'), data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number(), owned_by: z.string() })) });

/**
 * The OpenAI-compatible API: `POST /v1/chat/completions`, where `model` is an
 * agent's slug, and `GET /v1/models`, the agents the caller may chat with.
 * Registered as a plugin of its own under `/v1`, so its errors, and any
 * other path under `/v1`, use OpenAI's shape (same statuses and codes as the
 * rest of the API).
 */
export async function registerOpenAIRoutes(app: FastifyInstance, context: DataMachineContext, service: ChatService): Promise<void> {
  await app.register(async (v1) => {
    v1.setErrorHandler((error, request, reply) => {
      const response = toErrorResponse(error);
      if (response.unexpected) request.log.error({ err: error }, 'request failed');
      return reply.code(response.status).send(toOpenAIError(response));
    });
    // Any other path under /v1 is OpenAI's 404, so a client raises its typed NotFoundError.
    v1.setNotFoundHandler((request, reply) =>
      reply.code(404).send(toOpenAIError({ status: 404, body: { error: { code: 'route.not_found', message: `No route for ${request.method} ${request.url}` } }, unexpected: false })),
    );
    const routes = v1.withTypeProvider<ZodTypeProvider>();
    const tags = ['openai'];

    routes.get('/models', { schema: { tags, security: bearer, summary: 'The agents you may chat with, as OpenAI models', response: { 200: modelListSchema, ...openAIErrors } } }, async (request) => {
      const scope = await requestScope(context, request);
      const agents = await listAgents(context, scope);
      const chattable = agents.filter((agent) => check(context, scope, 'chat', agent.id).allowed);
      return { object: 'list' as const, data: chattable.map((agent) => ({ id: agent.slug, object: 'model' as const, created: Math.floor(agent.createdAt.getTime() / 1000), owned_by: agent.tenantId })) };
    });

    routes.post(
      '/chat/completions',
      {
        // A turn writes its session, never access.
        config: { accessUnchanged: true },
        schema: {
          tags,
          security: bearer,
          summary: `Chat with the agent named by \`model\`; \`${sessionIdHeader}\` continues a stored session, without it nothing is kept`,
          body: chatCompletionBodySchema,
          response: { 200: completionSchema, ...openAIErrors },
        },
      },
      async (request, reply) => {
        const scope = await requestScope(context, request);
        const { body } = request;
        const header = request.headers[sessionIdHeader];
        const sessionId = typeof header === 'string' && header !== '' ? header : undefined;
        const signal = watchDisconnect(reply);
        const turn = await service.openTurn(scope, body.model, {
          sessionId,
          input: turnInput(body, sessionId !== undefined),
          clientTools: (body.tools ?? []).map((tool) => ({ name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters })),
          stateless: sessionId === undefined,
          signal,
        });
        const id = `chatcmpl-${randomUUID()}`;
        const created = Math.floor(Date.now() / 1000);
        const model = turn.agent.slug;
        if (body.stream !== true) {
          await drain(turn);
          const { result } = await turn.settled;
          throwFailure(result);
          if (sessionId !== undefined) void reply.header(sessionIdHeader, sessionId);
          void reply.header('x-run-status', result.status);
          const toolCalls = result.status === 'tool_calls_required' ? result.pendingToolCalls.map((call) => ({ ...call })) : undefined;
          return {
            id,
            object: 'chat.completion' as const,
            created,
            model,
            choices: [{ index: 0, message: { role: 'assistant' as const, content: toolCalls ? null : result.finalContent, refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) }, finish_reason: finishReason(result), logprobs: null }],
            usage: usageBody(result.usage),
          };
        }
        const includeUsage = body.stream_options?.include_usage === true;
        const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
          ...(includeUsage ? { usage: null } : {}),
        });
        // The model request first, then the headers with the role chunk in one write.
        await turn.launched;
        const events = openEventStream(reply, sessionId === undefined ? {} : { [sessionIdHeader]: sessionId }, { data: chunk({ role: 'assistant', content: '' }, null) });
        try {
          for await (const { event } of turn.stream) {
            if (signal.aborted) break;
            if (event.type === 'text_delta') {
              events.send({ data: chunk({ content: event.text }, null) });
              // The first delta leaves before the rest of the answer is consumed (see EventStreamWriter.flushOnce).
              await events.flushOnce();
            }
            if (event.type !== 'run_end') continue;
            const { result } = event;
            throwFailure(result);
            if (result.status === 'tool_calls_required') {
              events.send({ data: chunk({ tool_calls: result.pendingToolCalls.map((call, index) => ({ index, ...call })) }, null) });
            }
            events.send({ data: chunk({}, finishReason(result)) });
            if (includeUsage) events.send({ data: { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageBody(result.usage) } });
          }
        } catch (error) {
          events.send({ data: toOpenAIError(toErrorResponse(error)) });
        }
        events.send({ data: '[DONE]' });
        events.end();
        return reply;
      },
    );
  }, { prefix: '/v1' });
}

/**
 * What a request adds to the conversation. Without a session the whole of
 * `messages` is the input of a new (stateless) session. With one, the stored
 * transcript is the history, and only what follows the request's last
 * assistant message is new: the user's next message, or the results of the
 * tool calls the last turn handed out.
 */
function turnInput(body: ChatCompletionBody, continuing: boolean): AgentMessage[] {
  const messages = fromOpenAIChatMessages(body.messages as unknown as Parameters<typeof fromOpenAIChatMessages>[0]);
  if (!continuing) return messages;
  const lastAssistant = messages.findLastIndex((message) => message.type === 'tool_call' || (message.type === 'text' && message.role === 'assistant'));
  const input = messages.slice(lastAssistant + 1);
  if (input.length === 0) {
    throw new DataMachineError('input.invalid', 'Nothing follows the last assistant message: send the next user message or tool results.', {
      details: { issues: [{ path: 'body.messages', message: 'nothing after the last assistant message' }] },
    });
  }
  return input;
}

/** A run that failed is the error of its code: the one table gives it the status a thrown one gets. */
function throwFailure(result: ConversationResult): void {
  if (result.status === 'failed') throw new AgentsApiError(result.failure.code, result.failure.message);
}

function finishReason(result: ConversationResult): 'stop' | 'length' | 'tool_calls' {
  if (result.status === 'tool_calls_required') return 'tool_calls';
  if (result.status === 'budget_exceeded') return 'length';
  return 'stop';
}

function usageBody(usage: ModelUsage): z.output<typeof usageSchema> {
  const prompt = usage.inputTokens ?? 0;
  const completion = usage.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: usage.totalTokens ?? prompt + completion };
}
