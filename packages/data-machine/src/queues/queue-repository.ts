import { sql } from 'kysely';
import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import { findAgentFlow } from '../jobs/agent-flow';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { configPatchBodySchema, entryNotFound, lockQueue, promptBodySchema, queueNameSchema, tailPosition, toQueueEntry, type QueueEntry, type QueueKey } from './queue';

// Operator-facing: each function authorizes `queue.add` on the agent (an
// operator of the agent), and names the queue by flow (id or slug), step key
// and queue name. A flow of another agent is `flow.not_found`, exactly as a
// missing one.

/** Which queue an operator means. */
export const queueAddressSchema = z.object({ flow: z.string().min(1).max(200), stepKey: z.string().min(1).max(64), queue: queueNameSchema }).strict();
export type QueueAddress = z.input<typeof queueAddressSchema>;

/** Adds an entry at the tail of the queue: a prompt (a string) or a config patch (an object). */
export async function addToQueue(context: DataMachineContext, scope: Scope, agentRef: string, address: QueueAddress, body: unknown): Promise<QueueEntry> {
  const where = parseInput(queueAddressSchema, address, 'queue');
  const value = where.queue === 'prompt' ? parseInput(promptBodySchema, body, 'prompt') : parseInput(configPatchBodySchema, body, 'config patch');
  return queueOperation(context, scope, agentRef, where, async (trx, key, agentId) => {
    await lockQueue(trx, key);
    const row = await trx
      .insertInto('dm_queue_entries')
      .values({
        id: context.newId('qen'),
        tenant_id: scope.tenantId,
        agent_id: agentId,
        flow_id: key.flowId,
        step_key: key.stepKey,
        queue: key.queue,
        position: await tailPosition(trx, key),
        body: JSON.stringify(value),
        created_by: actingUserId(scope.actor),
        created_at: context.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toQueueEntry(row);
  });
}

/** The queue's entries, head first (leased ones included, with the job that holds each). */
export async function listQueue(context: DataMachineContext, scope: Scope, agentRef: string, address: QueueAddress): Promise<readonly QueueEntry[]> {
  const where = parseInput(queueAddressSchema, address, 'queue');
  return queueOperation(context, scope, agentRef, where, (trx, key) => entriesOf(trx, key));
}

/** Moves one entry to `index` (0 is the head; past the tail is the tail); resolves to the queue in its new order. */
export async function moveQueueEntry(context: DataMachineContext, scope: Scope, agentRef: string, address: QueueAddress, entryId: string, index: number): Promise<readonly QueueEntry[]> {
  const where = parseInput(queueAddressSchema, address, 'queue');
  const to = parseInput(z.int().min(0), index, 'queue index');
  return queueOperation(context, scope, agentRef, where, async (trx, key) => {
    await lockQueue(trx, key);
    const ids = (await entriesOf(trx, key)).map((entry) => entry.id);
    const from = ids.indexOf(entryId);
    if (from === -1) throw entryNotFound(entryId);
    ids.splice(from, 1);
    ids.splice(Math.min(to, ids.length), 0, entryId);
    return renumber(trx, key, ids);
  });
}

/** Sets the whole order: `entryIds` must name every entry of the queue once; resolves to the queue in that order. */
export async function setQueueOrder(context: DataMachineContext, scope: Scope, agentRef: string, address: QueueAddress, entryIds: readonly string[]): Promise<readonly QueueEntry[]> {
  const where = parseInput(queueAddressSchema, address, 'queue');
  const order = parseInput(z.array(z.string().min(1)).max(10_000), entryIds, 'queue order');
  return queueOperation(context, scope, agentRef, where, async (trx, key) => {
    await lockQueue(trx, key);
    const current = new Set((await entriesOf(trx, key)).map((entry) => entry.id));
    const unknown = order.find((id) => !current.has(id));
    if (unknown !== undefined) throw entryNotFound(unknown);
    if (new Set(order).size !== order.length || order.length !== current.size) {
      throw new DataMachineError('input.invalid', 'Invalid queue order: name every entry of the queue exactly once.', {
        details: { issues: [{ path: 'entryIds', message: `expected each of the ${current.size} entries once` }] },
      });
    }
    return renumber(trx, key, order);
  });
}

/** Removes every entry of the queue (a leased one too: its job has already read it); resolves to how many. */
export async function clearQueue(context: DataMachineContext, scope: Scope, agentRef: string, address: QueueAddress): Promise<number> {
  const where = parseInput(queueAddressSchema, address, 'queue');
  return queueOperation(context, scope, agentRef, where, async (trx, key) => {
    const result = await trx.deleteFrom('dm_queue_entries').where('flow_id', '=', key.flowId).where('step_key', '=', key.stepKey).where('queue', '=', key.queue).executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}

/** Authorizes `queue.add` on the agent, finds its flow and checks the step is one of the flow's pipeline. */
function queueOperation<T>(
  context: DataMachineContext,
  scope: Scope,
  agentRef: string,
  address: z.infer<typeof queueAddressSchema>,
  work: (trx: TenantTransaction, key: QueueKey, agentId: string) => Promise<T>,
): Promise<T> {
  return agentOperation(context, scope, 'queue.add', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, address.flow);
    const step = await trx
      .selectFrom('dm_pipelines')
      .select('id')
      .where('id', '=', flow.pipeline_id)
      .where(sql<boolean>`steps @> ${JSON.stringify([{ key: address.stepKey }])}::jsonb`)
      .executeTakeFirst();
    if (!step) {
      throw new DataMachineError('queue.unknown_step', `The flow "${flow.slug}" has no step "${address.stepKey}".`, { details: { flow: flow.slug, stepKey: address.stepKey } });
    }
    return work(trx, { flowId: flow.id, stepKey: address.stepKey, queue: address.queue }, agent.id);
  });
}

async function entriesOf(trx: TenantTransaction, key: QueueKey): Promise<QueueEntry[]> {
  const rows = await trx
    .selectFrom('dm_queue_entries')
    .selectAll()
    .where('flow_id', '=', key.flowId)
    .where('step_key', '=', key.stepKey)
    .where('queue', '=', key.queue)
    .orderBy('position')
    .execute();
  return rows.map(toQueueEntry);
}

/**
 * Gives the entries positions 1..n in `ids` order. Two statements because the
 * unique (queue, position) constraint is checked row by row: first every
 * position moves out of the way (negated), then each takes its new one.
 */
async function renumber(trx: TenantTransaction, key: QueueKey, ids: readonly string[]): Promise<QueueEntry[]> {
  if (ids.length > 0) {
    const inQueue = (query: ReturnType<typeof trx.updateTable<'dm_queue_entries'>>) =>
      query.where('flow_id', '=', key.flowId).where('step_key', '=', key.stepKey).where('queue', '=', key.queue);
    await inQueue(trx.updateTable('dm_queue_entries')).set((eb) => ({ position: sql<string>`-${eb.ref('position')}` })).execute();
    const positions = sql.join(ids.map((id, index) => sql`(${id}, ${index + 1}::bigint)`));
    await sql`update dm_queue_entries e set position = v.position from (values ${positions}) as v(id, position) where e.id = v.id`.execute(trx);
  }
  return entriesOf(trx, key);
}
