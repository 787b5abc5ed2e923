import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelReply, ScriptedToolCall, ScriptedUsage } from './model-reply';

/** A request the server received, in arrival order. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or `undefined` when there was none or it was not JSON. */
  readonly body: unknown;
}

/** The chat completion request as the server reads it: only what it answers from. */
export interface ChatCompletionRequest {
  readonly model: string;
  readonly messages: readonly Readonly<Record<string, unknown>>[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly tools: readonly unknown[];
  /** The whole body, for assertions on anything else. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** Answers a request that the queue has no reply for. */
export type ReplyHandler = (request: ChatCompletionRequest) => ModelReply | Promise<ModelReply>;

/** Options of {@link startModelServer}. */
export interface ModelServerOptions {
  /** Used when no reply is queued; without one such a request gets a 500 `no_reply_scripted`. */
  readonly handler?: ReplyHandler;
  /** Listed by `GET /v1/models`. */
  readonly models?: readonly string[];
}

/** A running model server. */
export interface ModelServer {
  /** Pass as the `openai` client's `baseURL`: `http://127.0.0.1:<port>/v1`. */
  readonly baseURL: string;
  /** Every request received, in order. */
  readonly requests: readonly ReceivedRequest[];
  /** Bodies of the chat completion requests received, in order. */
  completionRequests(): ChatCompletionRequest[];
  /** Queues replies; each completion request takes the next one. */
  enqueue(...replies: ModelReply[]): void;
  /** Replaces the handler used when the queue is empty. */
  setHandler(handler: ReplyHandler | undefined): void;
  /** How many queued replies no request has taken yet. */
  pendingReplies(): number;
  /**
   * Forgets the queue, the received requests and any handler set later, so a
   * test that shares the server starts from nothing an earlier test left behind.
   */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts a real HTTP server on a random loopback port that speaks the
 * OpenAI Chat Completions API (`POST /v1/chat/completions`, plain and
 * `stream: true`; `GET /v1/models`), answering from a script.
 *
 * @example
 * const server = await startModelServer();
 * server.enqueue(toolCallReply({ name: 'lookup', arguments: { q: 'x' } }), textReply('done'));
 * const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'test' });
 */
export async function startModelServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  const requests: ReceivedRequest[] = [];
  const queue: ModelReply[] = [];
  let handler = options.handler;
  let callCounter = 0;
  let completionCounter = 0;
  const models = options.models ?? ['test-model'];
  const abort = new AbortController();

  const nextCallId = (): string => `call_${++callCounter}`;

  async function onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const body = parseJson(raw);
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body });

    if (request.method === 'GET' && path === '/v1/models') {
      return sendJson(response, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'testkit' })),
      });
    }
    if (request.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendError(response, 404, `no route for ${request.method} ${path}`, 'not_found');
    }
    if (!isRecord(body) || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      return sendError(response, 400, 'body must be JSON with model and messages', 'invalid_request');
    }
    const completion = toCompletionRequest(body);
    const reply = queue.shift() ?? (handler ? await handler(completion) : undefined);
    if (!reply) {
      return sendError(response, 500, 'model server: no reply scripted for this request', 'no_reply_scripted');
    }
    await pause(reply.delayMs);
    if (reply.type === 'error') {
      if (reply.retryAfterSeconds !== undefined) response.setHeader('retry-after', String(reply.retryAfterSeconds));
      return sendError(response, reply.status, reply.message ?? `scripted error ${reply.status}`, reply.code ?? 'scripted_error');
    }
    if (reply.type === 'malformed') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(reply.body ?? '{"id": "chatcmpl-broken", "choices": [');
      return;
    }
    const id = `chatcmpl-${++completionCounter}`;
    const toolCalls = (reply.toolCalls ?? []).map((call) => normalizeToolCall(call, nextCallId));
    const content = reply.content ?? null;
    const finishReason = reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    const usage = reply.usage === null ? undefined : (reply.usage ?? estimateUsage(completion, content, toolCalls));
    const usageBody = usage === undefined ? undefined : toUsageBody(usage);
    const message = { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal: null };
    if (!completion.stream) {
      return sendJson(response, 200, {
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: completion.model,
        choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
        ...(usageBody ? { usage: usageBody } : {}),
      });
    }
    await streamCompletion(response, {
      id,
      model: completion.model,
      content,
      toolCalls,
      finishReason,
      usage: completion.includeUsage ? usageBody : undefined,
      chunkDelayMs: reply.chunkDelayMs,
    });
  }

  async function pause(milliseconds: number | undefined): Promise<void> {
    if (!milliseconds) return;
    await sleep(milliseconds, undefined, { signal: abort.signal }).catch(() => undefined);
  }

  async function streamCompletion(response: ServerResponse, stream: StreamPlan): Promise<void> {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> => ({
      id: stream.id,
      object: 'chat.completion.chunk',
      created,
      model: stream.model,
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
    });
    const send = async (data: unknown): Promise<void> => {
      if (response.destroyed) return;
      response.write(`data: ${JSON.stringify(data)}\n\n`);
      await pause(stream.chunkDelayMs);
    };
    await send(chunk({ role: 'assistant', content: '' }));
    for (const piece of splitText(stream.content ?? '')) await send(chunk({ content: piece }));
    for (const [index, call] of stream.toolCalls.entries()) {
      await send(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
      for (const piece of splitText(call.function.arguments, 8)) {
        await send(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    }
    await send(chunk({}, stream.finishReason));
    if (stream.usage) {
      await send({ id: stream.id, object: 'chat.completion.chunk', created, model: stream.model, choices: [], usage: stream.usage });
    }
    if (!response.destroyed) response.end('data: [DONE]\n\n');
  }

  const server = createServer((request, response) => {
    onRequest(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, `model server failed: ${String(error)}`, 'server_error');
      else response.destroy();
    });
  });
  // The server never closes an idle connection; the client does, on its own timer. Otherwise a
  // request sent as the server's keep-alive timeout fires (after a test paused for about five
  // seconds, say, migrating a database) meets a closed socket, and a client without retries fails.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    completionRequests: () =>
      requests.filter((request) => request.path === '/v1/chat/completions' && isRecord(request.body)).map((request) => toCompletionRequest(request.body as Record<string, unknown>)),
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    setHandler: (next) => {
      handler = next;
    },
    pendingReplies: () => queue.length,
    reset: () => {
      queue.length = 0;
      requests.length = 0;
      handler = options.handler;
    },
    close: async () => {
      abort.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

interface NormalizedToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

interface StreamPlan {
  readonly id: string;
  readonly model: string;
  readonly content: string | null;
  readonly toolCalls: readonly NormalizedToolCall[];
  readonly finishReason: string;
  readonly usage: Record<string, unknown> | undefined;
  readonly chunkDelayMs: number | undefined;
}

function normalizeToolCall(call: ScriptedToolCall, nextId: () => string): NormalizedToolCall {
  const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
  return { id: call.id ?? nextId(), type: 'function', function: { name: call.name, arguments: args } };
}

function toCompletionRequest(body: Record<string, unknown>): ChatCompletionRequest {
  const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
  return {
    model: String(body.model),
    messages: Array.isArray(body.messages) ? body.messages.filter(isRecord) : [],
    stream: body.stream === true,
    includeUsage: streamOptions.include_usage === true,
    tools: Array.isArray(body.tools) ? body.tools : [],
    body,
  };
}

function toUsageBody(usage: ScriptedUsage): Record<string, unknown> {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    ...(usage.cachedPromptTokens === undefined ? {} : { prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens } }),
    ...(usage.reasoningTokens === undefined ? {} : { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } }),
  };
}

function estimateUsage(request: ChatCompletionRequest, content: string | null, toolCalls: readonly NormalizedToolCall[]) {
  const tokens = (text: string): number => Math.ceil(text.length / 4);
  const completionText = (content ?? '') + toolCalls.map((call) => call.function.name + call.function.arguments).join('');
  return { promptTokens: tokens(JSON.stringify(request.messages)), completionTokens: tokens(completionText) };
}

/** Splits text into stream pieces: words with their spaces, or fixed-size slices. */
function splitText(text: string, size?: number): string[] {
  if (text === '') return [];
  if (size) return Array.from({ length: Math.ceil(text.length / size) }, (_, index) => text.slice(index * size, (index + 1) * size));
  return text.match(/\S+\s*|\s+/g) ?? [text];
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function sendError(response: ServerResponse, status: number, message: string, code: string): void {
  sendJson(response, status, { error: { message, type: status === 429 ? 'rate_limit_error' : 'api_error', code, param: null } });
}
