import { describeEachDatabase, feedFixtures } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { runFlowNow } from '../../engine/flow-run';
import { createHandlerSteps } from '../../engine/handler-steps';
import type { JobEngine } from '../../engine/job-engine';
import { createFlow } from '../../flows/flow-repository';
import { createPipeline } from '../../pipelines/pipeline-repository';
import { useLocalServer } from '../../../test/support/handler-fixture';
import { migratedContext, type TestContext } from '../../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../../test/support/job-engine-fixture';
import { flowWorld } from '../../../test/support/pipeline-fixture';
import type { PublishHandler } from '../handler';
import { HandlerError } from '../handler-error';
import { createHandlerRegistry, type HandlerRegistry } from '../handler-registry';
import { createHandlerStateStore } from '../state/handler-state-store';
import { createItemProgress } from '../state/item-progress';
import { createFeedHandler, type FeedItemData } from './feed-handler';

const local = useLocalServer();

/** A publisher that refuses (permanently) the titles in `refusing`, and keeps the others. */
function pickyPublisher(): PublishHandler<Record<string, never>> & { refusing: Set<string>; published: string[] } {
  const refusing = new Set<string>();
  const published: string[] = [];
  return {
    kind: 'publish',
    slug: 'picky',
    description: 'Refuses some titles.',
    configSchema: z.strictObject({}),
    refusing,
    published,
    async publish(request) {
      const title = String((request.body as FeedItemData).title);
      if (refusing.has(title)) throw new HandlerError('handler.remote_rejected', `refused ${title}`, false);
      published.push(title);
      return { id: title, created: true };
    },
  };
}

await describeEachDatabase<DataMachineDatabase>('rss flow: an item whose job failed', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let handlers: HandlerRegistry;
  let publisher: ReturnType<typeof pickyPublisher>;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    publisher = pickyPublisher();
    handlers = createHandlerRegistry([createFeedHandler({ state: createHandlerStateStore(context), items: createItemProgress(context) }), publisher]);
    engine = engineOn(database);
    ({ stop } = await runningWorker(context, engine, handlers, createHandlerSteps(handlers, { http: local.http })));
  });
  afterAll(async () => {
    await stop();
  });

  it('is offered again on the next run and published then; the done item is not', async () => {
    local.fixture.route('GET', '/news.xml', () => ({ headers: { etag: '"v1"' }, body: feedFixtures.rdf }));
    const world = await flowWorld(context, 'feed-retry');
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'news',
      name: 'News',
      steps: [
        { key: 'feed', type: 'fetch', handler: 'rss' },
        { key: 'push', type: 'publish', handler: 'picky' },
      ],
    });
    await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'news', slug: 'news', name: 'News', maxItems: 10, stepConfig: { feed: { handlerConfig: { url: `${local.fixture.url}/news.xml` } } } });
    const run = async (key: string) => {
      const { job } = await runFlowNow(context, engine, world.operator, 'bot', 'news', { idempotencyKey: key });
      return jobReaches(context, world.tenant.id, job.id, ['completed', 'completed_no_items', 'failed']);
    };
    publisher.refusing.add('Compilers & coffee');
    expect((await run('first')).status).toBe('failed');
    expect(publisher.published).toHaveLength(1);
    publisher.refusing.clear();
    expect((await run('second')).status).toBe('completed');
    // Only the failed item ran again: the one published in the first run was not offered.
    expect(publisher.published).toEqual([expect.any(String), 'Compilers & coffee']);
  });
});
