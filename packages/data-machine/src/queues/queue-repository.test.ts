import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { grantAgentRole } from '../grants/grant-repository';
import { codeOf, migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { addFlow, agentWithFlow } from '../../test/support/engine-fixture';
import { addToQueue, clearQueue, listQueue, moveQueueEntry, setQueueOrder } from './queue-repository';

await describeEachDatabase<DataMachineDatabase>('queues', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const prompts = { flow: 'main', stepKey: 'ai', queue: 'prompt' } as const;

  async function ownerWithPrompts(slug: string, bodies: readonly string[]) {
    const world = await agentWithFlow(context, slug, ['editor', 'author']);
    const scope = await scopeOf(context, world.owner.id, world.tenant.id);
    const entries = [];
    for (const body of bodies) entries.push(await addToQueue(context, scope, world.agentId, prompts, body));
    return { world, scope, entries };
  }
  const bodiesOf = (entries: readonly { body: unknown }[]) => entries.map((entry) => entry.body);

  describe('adding and listing', () => {
    it('adds prompts at the tail and lists them head first', async () => {
      const { world, scope } = await ownerWithPrompts('q-add', ['one', 'two', 'three']);
      expect(bodiesOf(await listQueue(context, scope, world.agentId, prompts))).toEqual(['one', 'two', 'three']);
    });

    it('keeps the queues of each step and kind apart, and takes a config patch as an object', async () => {
      const { world, scope } = await ownerWithPrompts('q-apart', ['prompt']);
      const patches = { flow: 'main', stepKey: 'fetch', queue: 'config_patch' } as const;
      await addToQueue(context, scope, world.agentId, patches, { query: 'cats' });
      expect(bodiesOf(await listQueue(context, scope, world.agentId, patches))).toEqual([{ query: 'cats' }]);
      expect(bodiesOf(await listQueue(context, scope, 'default', { flow: world.flowId, stepKey: 'ai', queue: 'prompt' }))).toEqual(['prompt']);
    });

    it('gives concurrent adds distinct places', async () => {
      const { world, scope } = await ownerWithPrompts('q-concurrent', []);
      await Promise.all(Array.from({ length: 8 }, (_, index) => addToQueue(context, scope, world.agentId, prompts, `p${index}`)));
      const entries = await listQueue(context, scope, world.agentId, prompts);
      expect(new Set(entries.map((entry) => entry.position)).size).toBe(8);
    });

    it('refuses a body of the wrong kind, an unknown step, and a flow of another agent, writing nothing', async () => {
      const { world, scope } = await ownerWithPrompts('q-bad', []);
      expect(await codeOf(addToQueue(context, scope, world.agentId, prompts, { not: 'a prompt' }))).toBe('input.invalid');
      expect(await codeOf(addToQueue(context, scope, world.agentId, { flow: 'main', stepKey: 'fetch', queue: 'config_patch' }, 'not a patch'))).toBe('input.invalid');
      expect(await codeOf(addToQueue(context, scope, world.agentId, { ...prompts, stepKey: 'nope' }, 'x'))).toBe('queue.unknown_step');
      const other = await addFlow(context, world.tenant.id, world.agentId, 'other');
      expect(await codeOf(addToQueue(context, scope, world.agentId, { ...prompts, flow: 'missing' }, 'x'))).toBe('flow.not_found');
      expect(bodiesOf(await listQueue(context, scope, world.agentId, { ...prompts, flow: other.flowId }))).toEqual([]);
      expect(await database.db.selectFrom('dm_queue_entries').select('id').where('flow_id', '=', world.flowId).execute()).toEqual([]);
    });
  });

  describe('reordering and clearing', () => {
    it('moves an entry to a position', async () => {
      const { world, scope, entries } = await ownerWithPrompts('q-move', ['a', 'b', 'c', 'd']);
      expect(bodiesOf(await moveQueueEntry(context, scope, world.agentId, prompts, entries[3]!.id, 0))).toEqual(['d', 'a', 'b', 'c']);
      expect(bodiesOf(await moveQueueEntry(context, scope, world.agentId, prompts, entries[3]!.id, 99))).toEqual(['a', 'b', 'c', 'd']);
      expect(bodiesOf(await moveQueueEntry(context, scope, world.agentId, prompts, entries[0]!.id, 2))).toEqual(['b', 'c', 'a', 'd']);
    });

    it('sets the full order, and refuses an order that is not every entry once', async () => {
      const { world, scope, entries } = await ownerWithPrompts('q-order', ['a', 'b', 'c']);
      const [a, b, c] = entries.map((entry) => entry.id) as [string, string, string];
      expect(bodiesOf(await setQueueOrder(context, scope, world.agentId, prompts, [c, a, b]))).toEqual(['c', 'a', 'b']);
      expect(await codeOf(setQueueOrder(context, scope, world.agentId, prompts, [c, a]))).toBe('input.invalid');
      expect(await codeOf(setQueueOrder(context, scope, world.agentId, prompts, [c, a, a]))).toBe('input.invalid');
      expect(await codeOf(setQueueOrder(context, scope, world.agentId, prompts, [c, a, 'qen_nope']))).toBe('queue.entry_not_found');
      expect(await codeOf(moveQueueEntry(context, scope, world.agentId, prompts, 'qen_nope', 0))).toBe('queue.entry_not_found');
      expect(bodiesOf(await listQueue(context, scope, world.agentId, prompts))).toEqual(['c', 'a', 'b']);
    });

    it('adds after a reorder at the tail', async () => {
      const { world, scope, entries } = await ownerWithPrompts('q-reorder-add', ['a', 'b']);
      await moveQueueEntry(context, scope, world.agentId, prompts, entries[1]!.id, 0);
      await addToQueue(context, scope, world.agentId, prompts, 'c');
      expect(bodiesOf(await listQueue(context, scope, world.agentId, prompts))).toEqual(['b', 'a', 'c']);
    });

    it('clears a queue and says how many entries it removed', async () => {
      const { world, scope } = await ownerWithPrompts('q-clear', ['a', 'b']);
      expect(await clearQueue(context, scope, world.agentId, prompts)).toBe(2);
      expect(await listQueue(context, scope, world.agentId, prompts)).toEqual([]);
    });
  });

  describe('access', () => {
    it('lets an operator of the agent edit its queues', async () => {
      const { world, scope } = await ownerWithPrompts('q-operator', []);
      await grantAgentRole(context, scope, world.agentId, { userId: world.members.author!.id, role: 'operator' });
      const author = await scopeOf(context, world.members.author!.id, world.tenant.id);
      await expect(addToQueue(context, author, world.agentId, prompts, 'from the operator')).resolves.toMatchObject({ body: 'from the operator' });
    });

    it('refuses a viewer, and shows an agent the member cannot see as not found', async () => {
      const { world, scope } = await ownerWithPrompts('q-viewer', ['a']);
      await grantAgentRole(context, scope, world.agentId, { userId: world.members.author!.id, role: 'viewer' });
      const viewer = await scopeOf(context, world.members.author!.id, world.tenant.id);
      expect(await codeOf(addToQueue(context, viewer, world.agentId, prompts, 'x'))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'queue.add', reason: 'agent_role_too_low' });
      const editor = await scopeOf(context, world.members.editor!.id, world.tenant.id);
      const invisible = await clearQueue(context, editor, world.agentId, prompts).catch((error: unknown) => error);
      expect(DataMachineError.isInstance(invisible) && invisible.code).toBe('agent.not_found');
      expect(bodiesOf(await listQueue(context, scope, world.agentId, prompts))).toEqual(['a']);
    });
  });
});
