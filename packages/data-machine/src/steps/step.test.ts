import { describe, expect, it } from 'vitest';
import { pipelineStepSchema } from './step';

describe('pipeline step definition', () => {
  it('reads a handler step and defaults its config to {}', () => {
    expect(pipelineStepSchema.parse({ key: 'fetch', type: 'fetch', handler: 'json_items' })).toEqual({ key: 'fetch', type: 'fetch', handler: 'json_items', config: {} });
  });

  it('requires a handler of fetch, publish and upsert steps', () => {
    for (const type of ['fetch', 'publish', 'upsert']) expect(pipelineStepSchema.safeParse({ key: 'step', type }).success).toBe(false);
  });

  it('refuses a handler on ai and webhook_gate steps', () => {
    for (const type of ['ai', 'webhook_gate']) {
      expect(pipelineStepSchema.safeParse({ key: 'step', type }).success).toBe(true);
      expect(pipelineStepSchema.safeParse({ key: 'step', type, handler: 'records' }).success).toBe(false);
    }
  });

  it('refuses a key that is not a slug and an unknown type', () => {
    expect(pipelineStepSchema.safeParse({ key: 'Not A Key', type: 'ai' }).success).toBe(false);
    expect(pipelineStepSchema.safeParse({ key: 'step', type: 'transform' }).success).toBe(false);
  });
});
