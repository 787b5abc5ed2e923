import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createJob } from '../jobs/job-lifecycle';
import { migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { settleQueueLease, takeFromQueue } from './queue-lease';
import { addToQueue, listQueue } from './queue-repository';
import type { QueueMode } from './queue';

await describeEachDatabase<DataMachineDatabase>('queue leases', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const prompts = { flow: 'main', stepKey: 'ai', queue: 'prompt' } as const;

  async function queueOf(slug: string, bodies: readonly string[]) {
    const world = await agentWithFlow(context, slug);
    const scope = await scopeOf(context, world.owner.id, world.tenant.id);
    for (const body of bodies) await addToQueue(context, scope, world.agentId, prompts, body);
    const list = async () => (await listQueue(context, scope, world.agentId, prompts)).map((entry) => [entry.body, entry.leasedByJobId]);
    return { world, list };
  }
  const newJob = async (world: EngineWorld) => (await asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: world.flowId, source: 'manual' }))).job.id;
  const take = (world: EngineWorld, jobId: string, mode: QueueMode) =>
    asEngine(context, world.tenant.id, (trx) => takeFromQueue(context, trx, { flowId: world.flowId, stepKey: 'ai', queue: 'prompt', mode, jobId }));
  const settle = (world: EngineWorld, jobId: string, outcome: 'success' | 'failure') => asEngine(context, world.tenant.id, (trx) => settleQueueLease(trx, jobId, outcome));

  it('peeks the head in static mode without leasing or consuming it', async () => {
    const { world, list } = await queueOf('lease-static', ['a', 'b']);
    const job = await newJob(world);
    expect((await take(world, job, 'static'))?.body).toBe('a');
    expect((await take(world, job, 'static'))?.body).toBe('a');
    await settle(world, job, 'success');
    expect(await list()).toEqual([['a', null], ['b', null]]);
  });

  it('drains: the head is leased to the job and deleted when the job succeeds', async () => {
    const { world, list } = await queueOf('lease-drain', ['a', 'b']);
    const job = await newJob(world);
    expect((await take(world, job, 'drain'))?.body).toBe('a');
    expect(await list()).toEqual([['a', job], ['b', null]]);
    expect(await settle(world, job, 'success')).toEqual({ deleted: 1, requeued: 0, released: 0 });
    expect(await list()).toEqual([['b', null]]);
  });

  it('loops: a consumed entry goes to the tail when the job succeeds', async () => {
    const { world, list } = await queueOf('lease-loop', ['a', 'b', 'c']);
    const job = await newJob(world);
    await take(world, job, 'loop');
    expect(await settle(world, job, 'success')).toEqual({ deleted: 0, requeued: 1, released: 0 });
    expect(await list()).toEqual([['b', null], ['c', null], ['a', null]]);
  });

  it("gives a failed job's entry back at its original position, not the tail (the original's flaw)", async () => {
    const { world, list } = await queueOf('lease-fail', ['a', 'b', 'c']);
    const first = await newJob(world);
    const second = await newJob(world);
    expect((await take(world, first, 'drain'))?.body).toBe('a');
    expect((await take(world, second, 'drain'))?.body).toBe('b');
    await settle(world, second, 'success');
    expect(await settle(world, first, 'failure')).toEqual({ deleted: 0, requeued: 0, released: 1 });
    expect(await list()).toEqual([['a', null], ['c', null]]);
    expect((await take(world, await newJob(world), 'loop'))?.body).toBe('a');
  });

  it('gives a re-delivered job the entry it already holds', async () => {
    const { world } = await queueOf('lease-redeliver', ['a', 'b']);
    const job = await newJob(world);
    const first = await take(world, job, 'drain');
    expect((await take(world, job, 'drain'))?.id).toBe(first?.id);
  });

  it('returns null on an empty queue, and when every entry is leased', async () => {
    const { world } = await queueOf('lease-empty', ['a']);
    expect(await take(world, await newJob(world), 'drain')).not.toBeNull();
    expect(await take(world, await newJob(world), 'drain')).toBeNull();
    const { world: empty } = await queueOf('lease-empty-2', []);
    expect(await take(empty, await newJob(empty), 'static')).toBeNull();
  });

  it('never leases one entry to two jobs taking at once', async () => {
    const { world } = await queueOf('lease-race', ['a', 'b', 'c', 'd', 'e', 'f']);
    const jobs = await Promise.all(Array.from({ length: 8 }, () => newJob(world)));
    const taken = await Promise.all(jobs.map((job) => take(world, job, 'drain')));
    const bodies = taken.flatMap((entry) => (entry ? [entry.body] : []));
    expect(bodies.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it.runIf(database.backend === 'postgres')('skips an entry another open transaction is leasing instead of waiting for it', async () => {
    const { world } = await queueOf('lease-skip', ['a', 'b']);
    const [first, second] = [await newJob(world), await newJob(world)];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let leased!: () => void;
    const firstLeased = new Promise<void>((resolve) => (leased = resolve));
    const holder = asEngine(context, world.tenant.id, async (trx) => {
      const entry = await takeFromQueue(context, trx, { flowId: world.flowId, stepKey: 'ai', queue: 'prompt', mode: 'drain', jobId: first });
      leased();
      await held;
      return entry;
    });
    await firstLeased;
    const other = await take(world, second, 'drain');
    release();
    expect([(await holder)?.body, other?.body]).toEqual(['a', 'b']);
  });
});
