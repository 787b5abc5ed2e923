import type { AddressInfo } from 'node:net';
import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('chat and /v1 without a model', (database) => {
  let app: FastifyInstance;
  let world: Awaited<ReturnType<typeof tenantWorld>>;
  let client: OpenAI;

  beforeAll(async () => {
    const started = await startApp(database);
    app = started.app;
    world = await tenantWorld(started.context, 'no-model', ['author']);
    await app.listen({ port: 0, host: '127.0.0.1' });
    client = new OpenAI({ baseURL: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`, apiKey: world.owner.token, maxRetries: 0 });
  });
  afterAll(async () => {
    await app.close();
  });

  const sessionRows = async () => Number((await sql<{ count: string }>`select count(*) as count from agents_sessions`.execute(database.db)).rows[0]?.count);

  describe('a chat turn', () => {
    it('is 503 model.not_configured, writing no session', async () => {
      const response = await app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(world.owner.token), payload: { message: 'Hi' } });
      expect([response.statusCode, response.json().error.code]).toEqual([503, 'model.not_configured']);
      expect(await sessionRows()).toBe(0);
    });

    it('is refused for who may not chat exactly as with a model: the agent is not found', async () => {
      const response = await app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(world.members.author!.token), payload: { message: 'Hi' } });
      expect([response.statusCode, response.json().error.code]).toEqual([404, 'agent.not_found']);
    });

    it('leaves the stored sessions readable', async () => {
      const response = await app.inject({ method: 'GET', url: '/agents/default/chat/sessions', headers: as(world.owner.token) });
      expect([response.statusCode, response.json()]).toEqual([200, { sessions: [], nextCursor: null }]);
    });
  });

  describe('/v1 with the official openai client', () => {
    it('lists the agents as models', async () => {
      expect((await client.models.list()).data.map((model) => model.id)).toEqual(['default']);
    });

    it('raises InternalServerError with status 503 and code model.not_configured for a completion', async () => {
      const failure = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(OpenAI.InternalServerError);
      expect(failure).toMatchObject({ status: 503, code: 'model.not_configured', type: 'api_error' });
      const streamed = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], stream: true }).catch((error: unknown) => error);
      expect(streamed).toBeInstanceOf(OpenAI.InternalServerError);
      expect(await sessionRows()).toBe(0);
    });
  });
});
