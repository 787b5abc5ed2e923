import { describeEachDatabase } from '@data-machine/testkit';
import type { DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startApp, tenantWorld } from '../../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('schedule preview route', (database) => {
  let app: FastifyInstance;
  let token: string;
  const preview = async (payload: Record<string, unknown>, bearer: string | null = token) => {
    const response = await app.inject({ method: 'POST', url: '/schedules/preview', headers: bearer === null ? {} : as(bearer), payload });
    return { status: response.statusCode, body: response.json() as { runs?: string[]; timeZone?: string; error?: { code: string; details?: { issues?: { path: string }[] } } } };
  };

  beforeAll(async () => {
    const started = await startApp(database);
    app = started.app;
    started.setNow(new Date('2026-12-04T12:00:00Z'));
    token = (await tenantWorld(started.context, 'schedule-preview')).owner.token;
  });
  afterAll(async () => {
    await app.close();
  });

  describe('POST /schedules/preview', () => {
    it('lists the next cron runs read in the time zone, from the server clock', async () => {
      const { status, body } = await preview({ schedule: { kind: 'cron', expression: '30 8 * * 1-5', timeZone: 'America/New_York' }, count: 3 });
      expect(status).toBe(200);
      expect(body).toEqual({ runs: ['2026-12-04T13:30:00.000Z', '2026-12-07T13:30:00.000Z', '2026-12-08T13:30:00.000Z'], timeZone: 'America/New_York' });
    });

    it('lists five interval runs a period apart by default, and none for a manual flow', async () => {
      const { body } = await preview({ schedule: { kind: 'interval', every: 'daily' }, flowId: 'flw_1' });
      expect(body.runs).toHaveLength(5);
      expect(Date.parse(body.runs![1]!) - Date.parse(body.runs![0]!)).toBe(24 * 60 * 60 * 1000);
      expect((await preview({ schedule: { kind: 'manual' } })).body).toEqual({ runs: [], timeZone: 'UTC' });
    });

    it('answers an unreadable expression or zone with 400 flow.invalid_config naming the field', async () => {
      const badCron = await preview({ schedule: { kind: 'cron', expression: '0 25 * * *' } });
      expect(badCron.status).toBe(400);
      expect(badCron.body.error).toMatchObject({ code: 'flow.invalid_config', details: { issues: [{ path: 'schedule.expression' }] } });
      const badZone = await preview({ schedule: { kind: 'cron', expression: '0 9 * * *', timeZone: 'Mars/Olympus' } });
      expect(badZone.body.error).toMatchObject({ code: 'flow.invalid_config', details: { issues: [{ path: 'schedule.timeZone' }] } });
    });

    it('refuses a bad shape (400 input.invalid) and an anonymous caller (401)', async () => {
      expect((await preview({ schedule: { kind: 'interval', every: 'fortnightly' } })).body.error?.code).toBe('input.invalid');
      expect((await preview({ schedule: { kind: 'manual' }, count: 500 })).body.error?.code).toBe('input.invalid');
      expect((await preview({ schedule: { kind: 'manual' } }, null)).status).toBe(401);
    });
  });
});
