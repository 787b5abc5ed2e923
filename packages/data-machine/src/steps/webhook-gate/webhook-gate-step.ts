import { z } from 'zod';
import { DataMachineError } from '../../errors';
import type { Step } from '../step';

/** The signal a `webhook_gate` step waits for; an inbound webhook of the flow releases it. */
export const webhookGateSignal = 'webhook';

/** The longest a gate may wait: 30 days. */
export const maxWebhookGateTimeoutSeconds = 30 * 24 * 60 * 60;

/** A `webhook_gate` step's configuration: how long it waits before the job fails (default one day). */
export const webhookGateConfigSchema = z.strictObject({
  timeoutSeconds: z.number().int().min(1).max(maxWebhookGateTimeoutSeconds).default(24 * 60 * 60),
});
export type WebhookGateConfig = z.infer<typeof webhookGateConfigSchema>;

/**
 * The `webhook_gate` step: the job waits (`waiting`, reason `signal`) until
 * a signed inbound webhook releases it with `signalJob(…, { signal:
 * 'webhook' })`, whose payload becomes the step's output; when the timeout
 * passes first, the job fails with the permanent `webhook_gate.timed_out`.
 * Safe to run again: waiting and reading a release have no side effect.
 */
export function createWebhookGateStep(options: { readonly now?: () => Date } = {}): Step {
  const now = options.now ?? (() => new Date());
  return {
    type: 'webhook_gate',
    retrySafe: true,
    async execute(_input, context) {
      if (context.released?.signal === webhookGateSignal) return { kind: 'output', output: context.released.payload };
      if (context.wait !== undefined) {
        throw new DataMachineError('webhook_gate.timed_out', `Step "${context.step.key}" waited for a webhook until ${context.wait.until?.toISOString() ?? 'its deadline'}; none came.`, {
          details: { step: context.step.key, permanent: true },
        });
      }
      const config = webhookGateConfigSchema.parse(context.step.config);
      return { kind: 'wait', signal: webhookGateSignal, until: new Date(now().getTime() + config.timeoutSeconds * 1000) };
    },
  };
}
