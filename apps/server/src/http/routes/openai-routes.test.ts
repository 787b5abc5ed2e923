import type { AddressInfo } from 'node:net';
import { describeEachDatabase, errorReply, textReply, toolCallReply } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEventStream, useChatWorld } from '../../../test/support/chat-world';
import { as, grant, tenantWorld } from '../../../test/support/http-world';

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
} as const;

await describeEachDatabase<DataMachineDatabase>('OpenAI-compatible routes', (database) => {
  const world = useChatWorld(database);

  const complete = (token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    world.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: as(token, headers), payload });

  /** The caller's stored sessions with the agent. */
  async function sessionCount(token: string, agent = 'default'): Promise<number> {
    return ((await world.app.inject({ method: 'GET', url: `/agents/${agent}/chat/sessions`, headers: as(token) })).json() as { sessions: unknown[] }).sessions.length;
  }

  describe('over inject', () => {
    it('answers a completion in OpenAI\'s shape with the agent as the model, keeping no session without a session header', async () => {
      const tenant = await tenantWorld(world.context, 'v1-plain');
      world.model.enqueue(textReply('Four.', { usage: { promptTokens: 12, completionTokens: 3 } }));
      const response = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Two plus two?' }] });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({
        object: 'chat.completion',
        model: 'default',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Four.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
      });
      // The agent's configured model was asked, not the slug.
      expect(world.model.completionRequests()[0]?.model).toBe('test-model');
      expect(await sessionCount(tenant.owner.token)).toBe(0);
    });

    it('streams chunks, a usage chunk when asked, and [DONE]', async () => {
      const tenant = await tenantWorld(world.context, 'v1-stream');
      world.model.enqueue(textReply('Hello streamed world.'));
      const response = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } });
      expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
      const data = parseEventStream(response.body).map((event) => event.data);
      expect(data.at(-1)).toBe('[DONE]');
      const chunks = data.slice(0, -1).map((text) => JSON.parse(text) as { object: string; choices: { delta: { content?: string }; finish_reason: string | null }[]; usage: unknown });
      expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
      expect(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '')).join('')).toBe('Hello streamed world.');
      expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
      expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: expect.any(Number) } });
    });

    it('hands client-side tool calls back with finish_reason tool_calls, then continues a stored session with their results', async () => {
      const tenant = await tenantWorld(world.context, 'v1-tools');
      world.model.enqueue(textReply('Hello.'));
      const started = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(tenant.owner.token), payload: { message: 'Hi', stream: false } });
      const sessionId = (started.json() as { sessionId: string }).sessionId;
      world.model.enqueue(toolCallReply({ id: 'call_w', name: 'get_weather', arguments: { city: 'Oslo' } }), textReply('It is cold in Oslo.'));
      const history = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Weather in Oslo?' }];
      const called = await complete(tenant.owner.token, { model: 'default', messages: history, tools: [weatherTool] }, { 'x-session-id': sessionId });
      expect(called.json()).toMatchObject({
        choices: [{ message: { content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }, finish_reason: 'tool_calls' }],
      });
      // The model was offered the client's tool with its schema, after the product's chat tools.
      const offered = world.model.completionRequests()[1]?.tools ?? [];
      expect(offered.at(-1)).toEqual(expect.objectContaining({ function: expect.objectContaining({ name: 'get_weather', parameters: expect.objectContaining({ required: ['city'] }) }) }));
      expect(offered.map((tool) => (tool as { function: { name: string } }).function.name)).toEqual(['list_flows', 'get_job', 'run_flow', 'get_weather']);
      const answered = await complete(
        tenant.owner.token,
        {
          model: 'default',
          tools: [weatherTool],
          messages: [...history, { role: 'assistant', content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }, { role: 'tool', tool_call_id: 'call_w', content: '-5 C' }],
        },
        { 'x-session-id': sessionId },
      );
      expect(answered.json()).toMatchObject({ choices: [{ message: { content: 'It is cold in Oslo.' }, finish_reason: 'stop' }] });
      const stored = await world.app.inject({ method: 'GET', url: `/agents/default/chat/sessions/${sessionId}`, headers: as(tenant.owner.token) });
      expect(stored.json().messages.map((entry: { message: { type: string } }) => entry.message.type)).toEqual(['text', 'text', 'text', 'tool_call', 'tool_result', 'text']);
    });

    it('lists as models exactly the agents the caller may chat with', async () => {
      const tenant = await tenantWorld(world.context, 'v1-models', ['author']);
      const author = tenant.members.author!;
      await world.app.inject({ method: 'POST', url: '/agents', headers: as(tenant.owner.token), payload: { slug: 'helper', name: 'Helper' } });
      await grant(world.context, tenant, 'helper', author.id, 'viewer');
      const owners = await world.app.inject({ method: 'GET', url: '/v1/models', headers: as(tenant.owner.token) });
      expect(owners.json()).toMatchObject({ object: 'list' });
      expect(owners.json().data.map((model: { id: string; object: string }) => model.id).sort()).toEqual(['default', 'helper']);
      const authors = await world.app.inject({ method: 'GET', url: '/v1/models', headers: as(author.token) });
      expect(authors.json().data.map((model: { id: string }) => model.id)).toEqual(['helper']);
    });

    it("lets an agent token chat with its own agent only, within its ceiling", async () => {
      const tenant = await tenantWorld(world.context, 'v1-agent-token');
      await world.app.inject({ method: 'POST', url: '/agents', headers: as(tenant.owner.token), payload: { slug: 'widget', name: 'Widget' } });
      const issue = async (ceiling: string[]) =>
        ((await world.app.inject({ method: 'POST', url: '/agents/widget/tokens', headers: as(tenant.owner.token), payload: { label: 'site', ceiling } })).json() as { secret: string }).secret;
      const chatToken = await issue(['chat']);
      expect((await world.app.inject({ method: 'GET', url: '/v1/models', headers: as(chatToken) })).json().data.map((model: { id: string }) => model.id)).toEqual(['widget']);
      world.model.enqueue(textReply('From the widget.'));
      expect((await complete(chatToken, { model: 'widget', messages: [{ role: 'user', content: 'Hi' }] })).json()).toMatchObject({ model: 'widget', choices: [{ message: { content: 'From the widget.' } }] });
      const otherAgent = await complete(chatToken, { model: 'default', messages: [{ role: 'user', content: 'Hi' }] });
      expect([otherAgent.statusCode, otherAgent.json().error.code]).toEqual([404, 'agent.not_found']);
      // A token whose ceiling lacks `chat` may neither chat nor list models (listing agents needs `chat` in a token's ceiling).
      const logsToken = await issue(['view_logs']);
      const noChat = await complete(logsToken, { model: 'widget', messages: [{ role: 'user', content: 'Hi' }] });
      expect([noChat.statusCode, noChat.json().error]).toEqual([403, expect.objectContaining({ code: 'access.denied', type: 'permission_error' })]);
      expect((await world.app.inject({ method: 'GET', url: '/v1/models', headers: as(logsToken) })).statusCode).toBe(403);
      expect(world.model.completionRequests()).toHaveLength(1);
    });

    it("answers errors in OpenAI's shape with the API's statuses and codes", async () => {
      const tenant = await tenantWorld(world.context, 'v1-errors', ['author']);
      const author = tenant.members.author!;
      const unauthenticated = await world.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'default', messages: [{ role: 'user', content: 'Hi' }] } });
      expect([unauthenticated.statusCode, unauthenticated.json()]).toEqual([401, { error: { message: expect.any(String), type: 'authentication_error', code: 'auth.required', param: null } }]);
      const invisible = await complete(author.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }] });
      const missing = await complete(author.token, { model: 'nowhere', messages: [{ role: 'user', content: 'Hi' }] });
      expect([invisible.statusCode, invisible.json().error.code, invisible.json().error.type]).toEqual([404, 'agent.not_found', 'not_found_error']);
      expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'agent.not_found']);
      const noMessages = await complete(tenant.owner.token, { model: 'default', messages: [] });
      expect([noMessages.statusCode, noMessages.json().error.code, noMessages.json().error.param]).toEqual([400, 'input.invalid', 'body.messages']);
      const badRole = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'function', name: 'x', content: 'y' }] });
      expect([badRole.statusCode, badRole.json().error.code]).toEqual([400, 'message.invalid']);
      const badTool = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'function', function: { name: 'has space' } }] });
      expect([badTool.statusCode, badTool.json().error.code, badTool.json().error.param]).toEqual([400, 'input.invalid', 'body.tools.0.function.name']);
      const unknownSession = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }] }, { 'x-session-id': 'nope' });
      expect([unknownSession.statusCode, unknownSession.json().error.code]).toEqual([404, 'session.not_found']);
      const malformedSession = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }] }, { 'x-session-id': 'not a session!' });
      expect([malformedSession.statusCode, malformedSession.json().error.code, malformedSession.json().error.param]).toEqual([400, 'transcript.invalid_request', null]);
      // A model failure is the provider's code with its gateway status; the stateless session is gone.
      world.model.enqueue(errorReply(400, { message: 'upstream refused' }));
      const failed = await complete(tenant.owner.token, { model: 'default', messages: [{ role: 'user', content: 'Hi' }] });
      expect([failed.statusCode, failed.json().error.code, failed.json().error.type]).toEqual([502, 'provider.bad_request', 'api_error']);
      expect(world.model.completionRequests()).toHaveLength(1);
      expect(await sessionCount(tenant.owner.token)).toBe(0);
    });
  });

  describe('over a socket, with the official openai client', () => {
    let client: OpenAI;
    let tenant: Awaited<ReturnType<typeof tenantWorld>>;

    beforeAll(async () => {
      tenant = await tenantWorld(world.context, 'v1-socket');
      await world.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = world.app.server.address() as AddressInfo;
      client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: tenant.owner.token, maxRetries: 0 });
    });

    it('lists the agents as models and completes without streaming', async () => {
      const models = await client.models.list();
      expect(models.data.map((model) => model.id)).toEqual(['default']);
      world.model.enqueue(textReply('Plain answer.'));
      const completion = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }] });
      expect(completion.choices[0]?.message.content).toBe('Plain answer.');
      expect(completion.choices[0]?.finish_reason).toBe('stop');
    });

    it('streams a completion with a final usage chunk', async () => {
      world.model.enqueue(textReply('Streamed over a socket.'));
      const stream = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      const finishes: (string | null)[] = [];
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.choices[0]) finishes.push(chunk.choices[0].finish_reason);
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe('Streamed over a socket.');
      expect(finishes.at(-1)).toBe('stop');
      expect(usage?.total_tokens).toBeGreaterThan(0);
    });

    it('gets client-side tool calls back, streaming and not', async () => {
      world.model.enqueue(toolCallReply({ id: 'call_s', name: 'get_weather', arguments: { city: 'Rome' } }), toolCallReply({ id: 'call_t', name: 'get_weather', arguments: { city: 'Turin' } }));
      const completion = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Weather in Rome?' }], tools: [weatherTool] });
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
      expect(completion.choices[0]?.message.tool_calls).toEqual([{ id: 'call_s', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }]);
      const stream = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Weather in Turin?' }], tools: [weatherTool], stream: true });
      const calls: { id?: string; name?: string; arguments?: string }[] = [];
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const call of chunk.choices[0]?.delta.tool_calls ?? []) calls[call.index] = { id: call.id, name: call.function?.name, arguments: call.function?.arguments };
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe('tool_calls');
      expect(calls).toEqual([{ id: 'call_t', name: 'get_weather', arguments: '{"city":"Turin"}' }]);
    });

    it("raises the SDK's typed errors for every refusal, an unknown /v1 path included", async () => {
      const { baseURL } = client;
      const anonymous = new OpenAI({ baseURL, apiKey: 'dmpt_not-a-token', maxRetries: 0 });
      const unauthenticated = await anonymous.models.list().catch((error: unknown) => error);
      expect(unauthenticated).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(unauthenticated).toMatchObject({ status: 401, code: 'token.invalid', type: 'authentication_error' });
      const unknownPath = await client.get('/embeddings').catch((error: unknown) => error);
      expect(unknownPath).toBeInstanceOf(OpenAI.NotFoundError);
      expect(unknownPath).toMatchObject({ status: 404, code: 'route.not_found', type: 'not_found_error', param: null });
      const unknownMethod = await client.post('/models').catch((error: unknown) => error);
      expect(unknownMethod).toBeInstanceOf(OpenAI.NotFoundError);
      const invalid = await client.chat.completions.create({ model: 'default', messages: [] }).catch((error: unknown) => error);
      expect(invalid).toBeInstanceOf(OpenAI.BadRequestError);
      expect(invalid).toMatchObject({ status: 400, code: 'input.invalid', param: 'body.messages', type: 'invalid_request_error' });
      const badUrl = await fetch(`${baseURL}/models/%zz`, { headers: as(tenant.owner.token) });
      expect([badUrl.status, ((await badUrl.json()) as { error: unknown }).error]).toEqual([400, expect.objectContaining({ type: 'invalid_request_error', param: null })]);
      const badJson = await fetch(`${baseURL}/chat/completions`, { method: 'POST', headers: { ...as(tenant.owner.token), 'content-type': 'application/json' }, body: '{"model":' });
      expect([badJson.status, await badJson.json()]).toEqual([400, { error: { message: expect.any(String), type: 'invalid_request_error', code: 'request.invalid', param: null } }]);
    });

    it('raises the SDK\'s typed error for an agent the caller cannot chat with', async () => {
      const failure = await client.chat.completions.create({ model: 'nowhere', messages: [{ role: 'user', content: 'Hi' }] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.NotFoundError);
      expect(failure).toMatchObject({ status: 404, code: 'agent.not_found', type: 'not_found_error' });
    });
  });
});
