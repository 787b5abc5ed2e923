import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineContext, DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { as, person, startApp } from '../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('rate limits', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  const max = 3;

  beforeAll(async () => {
    // A window far longer than the suite: every count below is exact.
    ({ app, context } = await startApp(database, { rateLimit: { max, windowMs: 3_600_000 } }));
  });
  afterAll(async () => {
    await app.close();
  });

  const statuses = async (count: number, headers: Record<string, string>, remoteAddress = '127.0.0.1') => {
    const codes: number[] = [];
    for (let index = 0; index < count; index += 1) codes.push((await app.inject({ method: 'GET', url: '/me', headers, remoteAddress })).statusCode);
    return codes;
  };

  it('gives each token its own budget, then answers 429 request.rate_limited with retry-after', async () => {
    const first = await person(context, 'limited-a');
    const second = await person(context, 'limited-b');
    expect(await statuses(max, as(first.token))).toEqual([200, 200, 200]);
    const refused = await app.inject({ method: 'GET', url: '/me', headers: as(first.token) });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({ error: { code: 'request.rate_limited', message: expect.stringMatching(/^Too many requests/), details: { limit: max, retryAfterSeconds: expect.any(Number) } } });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // Another token of the same address is not affected.
    expect(await statuses(1, as(second.token))).toEqual([200]);
  });

  it('counts unauthenticated and badly authenticated requests against the client address, so invented tokens buy nothing', async () => {
    const address = '203.0.113.7';
    expect(await statuses(2, {}, address)).toEqual([401, 401]);
    expect(await statuses(1, as('dmpt_invented-1'), address)).toEqual([401]);
    expect(await statuses(1, as('dmpt_invented-2'), address)).toEqual([429]);
    expect(await statuses(1, {}, '203.0.113.8')).toEqual([401]);
  });

  it("answers over the limit on /v1 in OpenAI's error shape", async () => {
    const caller = await person(context, 'limited-v1');
    for (let index = 0; index < max; index += 1) await app.inject({ method: 'GET', url: '/v1/models', headers: as(caller.token) });
    const refused = await app.inject({ method: 'GET', url: '/v1/models', headers: as(caller.token) });
    expect([refused.statusCode, refused.json()]).toEqual([429, { error: { message: expect.stringMatching(/^Too many requests/), type: 'rate_limit_error', code: 'request.rate_limited', param: null } }]);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('never limits liveness and readiness', async () => {
    const address = '203.0.113.9';
    for (let index = 0; index < max + 2; index += 1) {
      expect((await app.inject({ method: 'GET', url: '/health', remoteAddress: address })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/ready', remoteAddress: address })).statusCode).not.toBe(429);
    }
  });
});
