import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { as, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('references in paths', (database) => {
  let app: FastifyInstance;
  let token: string;

  beforeAll(async () => {
    const started = await startApp(database);
    app = started.app;
    token = (await tenantWorld(started.context, 'references')).owner.token;
  });
  afterAll(async () => {
    await app.close();
  });

  it.each(['/agents/%00', '/agents/a%00b/grants', '/agents/%01/chat/sessions', '/agents/default/chat/sessions/s%00'])('refuses a control character in %s as a 400 naming the parameter', async (url) => {
    const response = await app.inject({ method: 'GET', url, headers: as(token) });
    expect([response.statusCode, response.json().error.code]).toEqual([400, 'input.invalid']);
    expect(response.json().error.details.issues[0].path).toMatch(/^params\.(agent|session)$/);
  });
});
