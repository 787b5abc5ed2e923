import { z } from 'zod';
import type { FetchHandler } from './handler';

/** The slug a flow's first step names to take its items from signed inbound webhook deliveries. */
export const inboundWebhookHandlerSlug = 'inbound_webhook';

/** The configuration of `inbound_webhook`: none; the flow's webhook secret is rotated by an operator, not configured. */
export const inboundWebhookConfigSchema = z.strictObject({});
export type InboundWebhookConfig = z.infer<typeof inboundWebhookConfigSchema>;

/**
 * The fetch handler of flows fed by their inbound webhook. A signed delivery
 * starts a job that already holds its payload as the item, so this fetch is
 * skipped there; a run started any other way (a schedule, "run now") has no
 * delivery to read, and this fetch yields nothing (`completed_no_items`).
 */
export const inboundWebhookHandler: FetchHandler<InboundWebhookConfig> = {
  kind: 'fetch',
  slug: inboundWebhookHandlerSlug,
  description: 'Items from signed POSTs to the flow\'s inbound webhook URL, one job per delivery.',
  configSchema: inboundWebhookConfigSchema,
  async fetch() {
    return [];
  },
};
