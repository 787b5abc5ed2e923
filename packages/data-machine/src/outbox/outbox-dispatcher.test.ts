import { createInMemoryMemoryStore } from '@data-machine/agents-api';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import type { OutboxEvent } from './outbox';
import { dispatchOutbox, type OutboxHandler } from './outbox-dispatcher';
import { createAgentMemoryProvisioner } from './provision-agent-memory';

await describeEachDatabase<DataMachineDatabase>('outbox', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  function recording(name: string, fail: () => boolean = () => false): OutboxHandler & { seen: OutboxEvent[] } {
    const seen: OutboxEvent[] = [];
    return {
      name,
      types: ['agent.created'],
      seen,
      async handle(event) {
        seen.push(event);
        if (fail()) throw new Error(`${name} is down`);
      },
    };
  }

  it('records agent.created with the agent, and a dispatch scaffolds its memory once', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'provision');
    const agent = await createAgent(context, await scopeOf(context, owner.id, tenant.id), {
      slug: 'poet',
      name: 'Poet',
      description: 'Writes verse.',
      config: { soulSeed: 'Loves sonnets.' },
    });
    const memory = createInMemoryMemoryStore();
    const provisioner = createAgentMemoryProvisioner({ memory });
    await dispatchOutbox(context, [provisioner]);
    const soul = await memory.read({ layer: 'agent', tenantId: tenant.id, agentSlug: 'poet', userId: null, path: 'SOUL.md' });
    expect(soul).toMatchObject({ exists: true, content: '# Poet\n\nWrites verse.\n\nLoves sonnets.\n' });
    expect(await memory.read({ layer: 'agent', tenantId: tenant.id, agentSlug: 'poet', userId: null, path: 'MEMORY.md' })).toMatchObject({ exists: true, content: '' });
    // Someone edits SOUL.md; a redelivery (here: the handler run again on the same event) leaves it.
    await memory.write({ layer: 'agent', tenantId: tenant.id, agentSlug: 'poet', userId: null, path: 'SOUL.md' }, 'edited');
    const event = await database.db.selectFrom('dm_outbox_events').selectAll().where('agent_id', '=', agent.id).executeTakeFirstOrThrow();
    await provisioner.handle({ id: event.id, tenantId: tenant.id, agentId: agent.id, type: 'agent.created', payload: { agentId: agent.id, slug: 'poet', name: 'Poet', description: '', soulSeed: null }, createdAt: event.created_at });
    expect(await memory.read({ layer: 'agent', tenantId: tenant.id, agentSlug: 'poet', userId: null, path: 'SOUL.md' })).toMatchObject({ content: 'edited' });
  });

  it('delivers each event once per handler, and nothing the second time', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'once');
    await createAgent(context, await scopeOf(context, owner.id, tenant.id), { slug: 'a', name: 'A' });
    const first = recording('first');
    const second = recording('second');
    await dispatchOutbox(context, [first, second]);
    await dispatchOutbox(context, [first, second]);
    const mine = (handler: { seen: OutboxEvent[] }) => handler.seen.filter((event) => event.tenantId === tenant.id).map((event) => event.payload.slug).sort();
    expect(mine(first)).toEqual(['a', 'default']);
    expect(mine(second)).toEqual(['a', 'default']);
  });

  it('retries a failing handler with backoff, without touching the agent or the other handlers', async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'retry');
    const agent = await createAgent(context, await scopeOf(context, owner.id, tenant.id), { slug: 'flaky', name: 'Flaky' });
    let down = true;
    const flaky = recording('flaky', () => down);
    const steady = recording('steady');
    const start = context.now();
    const report = await dispatchOutbox(context, [flaky, steady], { backoffMs: (failures) => failures * 60_000 });
    expect(report.failed).toBeGreaterThan(0);
    const delivery = await database.db.selectFrom('dm_outbox_deliveries').selectAll().where('agent_id', '=', agent.id).where('handler', '=', 'flaky').executeTakeFirstOrThrow();
    expect(delivery).toMatchObject({ attempts: 1, delivered_at: null, last_error: 'flaky is down' });
    expect(delivery.next_attempt_at.getTime()).toBe(start.getTime() + 60_000);
    expect(await database.db.selectFrom('dm_agents').select('id').where('id', '=', agent.id).execute()).toHaveLength(1);
    // Not due yet: nothing is tried.
    const tries = flaky.seen.length;
    await dispatchOutbox(context, [flaky, steady]);
    expect(flaky.seen.length).toBe(tries);
    // Due and up again: delivered.
    down = false;
    context.setNow(new Date(start.getTime() + 61_000));
    try {
      await dispatchOutbox(context, [flaky, steady]);
    } finally {
      context.setNow(start);
    }
    const after = await database.db.selectFrom('dm_outbox_deliveries').selectAll().where('agent_id', '=', agent.id).where('handler', '=', 'flaky').executeTakeFirstOrThrow();
    expect(after.delivered_at).not.toBeNull();
    expect(steady.seen.filter((event) => event.agentId === agent.id)).toHaveLength(1);
  });
});
