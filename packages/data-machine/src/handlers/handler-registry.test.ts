import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { codeOf } from '../../test/support/identity-fixture';
import type { PublishHandler } from './handler';
import { createHandlerRegistry } from './handler-registry';
import { jsonItemsHandler } from './json-items-handler';

const echo: PublishHandler<{ target: string }> = {
  kind: 'publish',
  slug: 'echo',
  description: 'Publishes nowhere.',
  configSchema: z.strictObject({ target: z.string() }),
  async publish(request) {
    return { id: request.idempotencyKey, created: true };
  },
};

describe('handler registry', () => {
  it('gets a registered handler by slug and lists them by slug, optionally of one kind', () => {
    const registry = createHandlerRegistry([jsonItemsHandler]);
    registry.register(echo);
    expect(registry.get('echo')).toBe(echo);
    expect(registry.list().map((handler) => handler.slug)).toEqual(['echo', 'json_items']);
    expect(registry.list('fetch').map((handler) => handler.slug)).toEqual(['json_items']);
    expect(registry.find('nothing')).toBeUndefined();
  });

  it('answers an unknown slug with handler.not_found', async () => {
    const registry = createHandlerRegistry();
    expect(await codeOf(Promise.resolve().then(() => registry.get('nothing')))).toBe('handler.not_found');
  });

  it('refuses a handler whose slug pipelines could not name, or of an unknown kind', async () => {
    const registry = createHandlerRegistry();
    expect(await codeOf(Promise.resolve().then(() => registry.register({ ...echo, slug: 'Echo Handler' })))).toBe('handler.invalid_definition');
    expect(await codeOf(Promise.resolve().then(() => registry.register({ ...echo, kind: 'transform' } as never)))).toBe('handler.invalid_definition');
    expect(registry.list()).toEqual([]);
  });

  it('refuses a second handler with the same slug', async () => {
    const registry = createHandlerRegistry([echo]);
    expect(await codeOf(Promise.resolve().then(() => registry.register({ ...echo })))).toBe('handler.duplicate');
    expect(registry.get('echo')).toBe(echo);
  });
});
