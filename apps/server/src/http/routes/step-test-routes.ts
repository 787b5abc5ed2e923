import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { testFlowStep, type DataMachineContext, type FlowStepTestOptions } from 'data-machine';
import { z } from 'zod';
import { requestScope } from '../authentication';
import { flowParams } from './flow-routes';
import { bearer, scopedErrors } from './schemas';

const testResultSchema = z.object({
  handler: z.string(),
  /** False when the step's handler has no connection test. */
  supported: z.boolean(),
  ok: z.boolean().optional(),
  message: z.string().optional(),
});

/**
 * `POST /agents/{agent}/flows/{flow}/steps/{step}/test`: tests a handler
 * step's connection with the flow's configuration and the agent's secret, as
 * a run would call the handler, without side effects (`flow.run`). A failed
 * connection is a 200 with `ok: false` and the handler's message: the test
 * ran; what it found is the answer.
 */
export function registerStepTestRoutes(app: FastifyInstance, context: DataMachineContext, options: FlowStepTestOptions): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.post(
    '/agents/:agent/flows/:flow/steps/:step/test',
    {
      schema: {
        tags: ['flows'],
        security: bearer,
        summary: "Test a handler step's connection (no side effects)",
        params: flowParams.extend({ step: z.string().min(1).max(64) }),
        response: { 200: testResultSchema, ...scopedErrors },
      },
    },
    async (request) => {
      const controller = new AbortController();
      request.raw.once('close', () => controller.abort());
      return testFlowStep(context, await requestScope(context, request), request.params.agent, request.params.flow, request.params.step, { ...options, signal: controller.signal });
    },
  );
}
