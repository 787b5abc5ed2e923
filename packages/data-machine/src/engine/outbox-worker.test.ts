import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { OutboxEvent } from '../outbox/outbox';
import type { OutboxHandler } from '../outbox/outbox-dispatcher';
import { migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, eventually } from '../../test/support/job-engine-fixture';
import type { JobEngine } from './job-engine';
import { sql } from 'kysely';
import { inTenant } from '../scope/tenant-transaction';
import { recordEvent } from '../outbox/outbox';
import { createOutboxWorker, outboxKick, type OutboxWorker } from './outbox-worker';

await describeEachDatabase<DataMachineDatabase>('outbox worker', (database) => {
  let context: TestContext;
  let engine: JobEngine;
  let worker: OutboxWorker;
  const seen: OutboxEvent<'agent.created'>[] = [];
  let dispatches = 0;
  const failedOnce = new Set<string>();
  // Fails the first delivery of each `flaky-*` agent, then records.
  const handler: OutboxHandler = {
    name: 'recorder',
    types: ['agent.created'],
    async handle(event) {
      if (event.payload.slug.startsWith('flaky') && !failedOnce.has(event.agentId)) {
        failedOnce.add(event.agentId);
        throw new Error('the recorder is down once');
      }
      seen.push(event);
    },
  };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    engine = engineOn(database);
    await engine.start();
    worker = createOutboxWorker({ context, engine, handlers: [handler], intervalSeconds: 1, dispatch: { backoffMs: () => 0 }, onDispatched: () => (dispatches += 1) });
    await worker.start();
  });
  afterAll(async () => {
    await worker.stop();
    await engine.stop();
  });

  const deliveryOf = (agentId: string) => database.db.selectFrom('dm_outbox_deliveries').select(['attempts', 'delivered_at']).where('agent_id', '=', agentId).executeTakeFirst();

  it('delivers agent.created from a pg-boss worker, retrying a failed delivery, once per handler', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'outbox-worker');
    const agent = await createAgent(context, await scopeOf(context, owner.id, tenant.id), { slug: 'flaky-scribe', name: 'Scribe' });
    await worker.kick();
    await eventually(async () => (await deliveryOf(agent.id))?.delivered_at != null, () => 'the delivery is marked delivered');
    expect(await deliveryOf(agent.id)).toMatchObject({ attempts: 1 });
    // Another dispatch finds nothing left to deliver for it.
    const after = dispatches;
    await worker.kick();
    await eventually(async () => dispatches > after, () => 'another dispatch ran');
    expect(seen.filter((event) => event.agentId === agent.id).map((event) => event.payload.slug)).toEqual(['flaky-scribe']);
  });

  describe('kicked from the recording transaction (onEventRecorded: outboxKick)', () => {
    const outboxRequests = async (): Promise<number> => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'dm_outbox'`.execute(database.db);
      return rows[0]?.n ?? 0;
    };

    it('dispatches a new agent\'s event without waiting for the periodic offer', async () => {
      // A worker whose periodic offer is an hour away: only the kick can dispatch in time.
      const slow = createOutboxWorker({ context, engine, handlers: [handler], intervalSeconds: 3600, dispatch: { backoffMs: () => 0 } });
      await worker.stop();
      await slow.start();
      try {
        const kicking = { ...context, onEventRecorded: outboxKick(engine) };
        const { tenant, owner } = await tenantWithMembers(kicking, 'outbox-kick');
        const agent = await createAgent(kicking, await scopeOf(kicking, owner.id, tenant.id), { slug: 'kicked', name: 'Kicked' });
        await eventually(async () => (await deliveryOf(agent.id))?.delivered_at != null, () => 'the kicked delivery is marked delivered');
      } finally {
        await slow.stop();
        await worker.start();
      }
    });

    it('leaves no dispatch request when the event rolls back with its transaction', async () => {
      const kicking = { ...context, onEventRecorded: outboxKick(engine) };
      const { tenant, defaultAgentId } = await tenantWithMembers(context, 'outbox-kick-rollback');
      // No periodic offers meanwhile: only the kick could add a request.
      await worker.stop();
      try {
        const before = await outboxRequests();
        const aborted = inTenant(kicking, tenant.id, null, async (trx) => {
          await recordEvent(kicking, trx, { tenantId: tenant.id, agentId: defaultAgentId, type: 'agent.created', payload: { agentId: defaultAgentId, slug: 'x', name: 'X', description: '', soulSeed: null } });
          throw new Error('the cause of the event failed');
        });
        await expect(aborted).rejects.toThrow('the cause of the event failed');
        expect(await outboxRequests()).toBe(before);
        await inTenant(kicking, tenant.id, null, (trx) =>
          recordEvent(kicking, trx, { tenantId: tenant.id, agentId: defaultAgentId, type: 'agent.created', payload: { agentId: defaultAgentId, slug: 'x', name: 'X', description: '', soulSeed: null } }),
        );
        expect(await outboxRequests()).toBe(before + 1);
      } finally {
        await worker.start();
      }
    });
  });
});
