import { describe, expect, it } from 'vitest';
import { issuesThrown, schemaHandlers } from '../../test/support/pipeline-fixture';
import { checkPipelineSteps } from './pipeline-steps';

const handlers = schemaHandlers();

function issuesOf(steps: unknown): unknown {
  return issuesThrown('pipeline.invalid_steps', () => checkPipelineSteps(steps, handlers));
}

describe('pipeline steps', () => {
  it('accepts fetch first, then ai, gates and publishes', () => {
    const steps = checkPipelineSteps(
      [
        { key: 'fetch', type: 'fetch', handler: 'json_items' },
        { key: 'draft', type: 'ai' },
        { key: 'approve', type: 'webhook_gate' },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'x' } },
        { key: 'mirror', type: 'upsert', handler: 'records' },
      ],
      handlers,
    );
    expect(steps.map((step) => step.key)).toEqual(['fetch', 'draft', 'approve', 'store', 'mirror']);
  });

  it('accepts a pipeline without a fetch', () => {
    expect(issuesOf([{ key: 'draft', type: 'ai' }])).toBe('valid');
  });

  it('refuses no steps and a non-array', () => {
    expect(issuesOf([])).toEqual([{ path: 'steps', message: expect.stringContaining('at least one') }]);
    expect(issuesOf({})).toEqual([{ path: 'steps', message: expect.any(String) }]);
  });

  it('refuses an ai step config with a misspelt or mistyped field when the pipeline is saved, not when a job runs it', () => {
    expect(issuesOf([{ key: 'draft', type: 'ai', config: { promt: 'Rewrite it', maxTurns: '3' } }])).toEqual([
      { path: 'steps.0.config.maxTurns', message: 'must be a number, not "3"' },
      { path: 'steps.0.config', message: 'unknown field "promt"' },
    ]);
  });

  it('keeps an ai step config as given, without its defaults', () => {
    expect(checkPipelineSteps([{ key: 'draft', type: 'ai', config: { prompt: 'Rewrite it' } }], handlers)[0]).toEqual({ key: 'draft', type: 'ai', config: { prompt: 'Rewrite it' } });
  });

  it('refuses a duplicate key, naming the later step', () => {
    expect(issuesOf([{ key: 'a', type: 'ai' }, { key: 'a', type: 'ai' }])).toEqual([{ path: 'steps.1.key', message: expect.any(String) }]);
  });

  it('refuses a fetch that is not first, and a second fetch', () => {
    expect(issuesOf([{ key: 'draft', type: 'ai' }, { key: 'fetch', type: 'fetch', handler: 'json_items' }])).toEqual([{ path: 'steps.1.type', message: expect.any(String) }]);
    expect(issuesOf([{ key: 'one', type: 'fetch', handler: 'json_items' }, { key: 'two', type: 'fetch', handler: 'json_items' }])).toEqual([
      { path: 'steps.1.type', message: expect.any(String) },
    ]);
  });

  it('refuses two webhook gates in a row', () => {
    expect(issuesOf([{ key: 'g1', type: 'webhook_gate' }, { key: 'g2', type: 'webhook_gate' }])).toEqual([{ path: 'steps.1.type', message: expect.any(String) }]);
  });

  it('refuses an unknown handler and one of the wrong kind', () => {
    expect(issuesOf([{ key: 'fetch', type: 'fetch', handler: 'rss' }])).toEqual([{ path: 'steps.0.handler', message: 'there is no handler "rss"' }]);
    expect(issuesOf([{ key: 'fetch', type: 'fetch', handler: 'records' }])).toEqual([{ path: 'steps.0.handler', message: expect.stringContaining('needs a fetch handler') }]);
    expect(issuesOf([{ key: 'out', type: 'publish', handler: 'json_items' }])).toEqual([{ path: 'steps.0.handler', message: expect.stringContaining('needs a publish handler') }]);
  });

  it('names every malformed step by index and field', () => {
    expect(issuesOf([{ key: 'ok', type: 'ai' }, { key: 'x', type: 'ai', handler: 'records' }, { type: 'ai' }])).toEqual([
      { path: 'steps.1', message: expect.any(String) },
      { path: 'steps.2.key', message: expect.any(String) },
    ]);
  });
});
