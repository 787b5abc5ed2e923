import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { maxUpcomingRuns, scheduleSchema, upcomingRuns, type DataMachineContext } from 'data-machine';
import { z } from 'zod';
import { requestIdentity } from '../authentication';
import { bearer, errorBodySchema, instant, instantSchema } from './schemas';

const previewBody = z.strictObject({
  schedule: scheduleSchema,
  count: z.int().min(1).max(maxUpcomingRuns).default(5),
  flowId: z.string().min(1).max(200).optional().describe("the flow's id, when it exists: interval runs are staggered by it"),
});

/**
 * `POST /schedules/preview`: the next run times of a schedule, computed by
 * the scheduler's own rules (cron read in its time zone, interval stagger),
 * so the console needs no cron library of its own. Reads nothing stored; any
 * authenticated caller may ask.
 */
export function registerScheduleRoutes(app: FastifyInstance, context: DataMachineContext): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/schedules/preview',
    {
      schema: {
        tags: ['flows'],
        security: bearer,
        summary: "A schedule's next run times, as the scheduler would start them",
        description: 'An expression or time zone that cannot be read is 400 `flow.invalid_config` naming `schedule.expression` or `schedule.timeZone`, as when a flow is saved with it.',
        body: previewBody,
        response: {
          200: z.object({ runs: z.array(instantSchema).describe('at most `count`, soonest first; empty for a manual schedule'), timeZone: z.string().describe('the zone cron fields are read in (UTC otherwise)') }),
          400: errorBodySchema,
          401: errorBodySchema,
          413: errorBodySchema,
          429: errorBodySchema,
        },
      },
    },
    async (request) => {
      await requestIdentity(context, request);
      const { schedule, count, flowId } = request.body;
      // A flow not yet created has no id: any stable one previews the period; its own stagger is within a tenth of it.
      const runs = upcomingRuns(schedule, flowId ?? 'preview', context.now(), count);
      return { runs: runs.map((run) => instant(run)), timeZone: schedule.kind === 'cron' ? schedule.timeZone : 'UTC' };
    },
  );
}
