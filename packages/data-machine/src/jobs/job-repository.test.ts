import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import type { DataMachineError } from '../errors';
import { grantAgentRole } from '../grants/grant-repository';
import { claimItems } from '../items/processed-items';
import { takeFromQueue } from '../queues/queue-lease';
import { addToQueue, listQueue } from '../queues/queue-repository';
import { codeOf, migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { addFlow, agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { createChildJobs, createJob, transitionJob } from './job-lifecycle';
import { cancelJob, getJob, listJobChildren, listJobs, newestJobsQuery } from './job-repository';

await describeEachDatabase<DataMachineDatabase>('jobs', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const newJob = async (world: EngineWorld, flowId = world.flowId) =>
    (await asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId, source: 'schedule' }))).job;

  describe('listing', () => {
    it('pages through the newest jobs of an agent, each once, newest first', async () => {
      const world = await agentWithFlow(context, 'jobs-page');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const created: string[] = [];
      for (let index = 0; index < 7; index += 1) {
        // Two jobs share each millisecond: the id breaks the tie.
        context.setNow(new Date(Date.UTC(2026, 10, 30, 12, 0, 0, Math.floor(index / 2))));
        created.push((await newJob(world)).id);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await listJobs(context, scope, world.agentId, { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.items.map((job) => job.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(created));
      const order = await database.db.selectFrom('dm_jobs').select('id').where('agent_id', '=', world.agentId).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
      expect(seen).toEqual(order.map((row) => row.id));
    });

    it("lists one flow's jobs, by flow slug, and filters by status", async () => {
      const world = await agentWithFlow(context, 'jobs-flow');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const other = await addFlow(context, world.tenant.id, world.agentId, 'other');
      const mine = await newJob(world);
      await newJob(world, other.flowId);
      expect((await listJobs(context, scope, world.agentId, { flow: 'main' })).items.map((job) => job.id)).toEqual([mine.id]);
      expect((await listJobs(context, scope, world.agentId, { status: 'completed' })).items).toEqual([]);
      expect(await codeOf(listJobs(context, scope, world.agentId, { flow: 'nope' }))).toBe('flow.not_found');
      expect(await codeOf(listJobs(context, scope, world.agentId, { cursor: 'not-a-cursor' }))).toBe('input.invalid');
    });

    it('keeps the jobs created in a time range: since inclusive, before exclusive', async () => {
      const world = await agentWithFlow(context, 'jobs-range');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const at = (hour: number) => new Date(Date.UTC(2026, 10, 30, hour));
      const ids: string[] = [];
      for (const hour of [9, 10, 11, 12]) {
        context.setNow(at(hour));
        ids.push((await newJob(world)).id);
      }
      const range = await listJobs(context, scope, world.agentId, { createdSince: at(10), createdBefore: at(12) });
      expect(range.items.map((job) => job.id)).toEqual([ids[2], ids[1]]);
      expect((await listJobs(context, scope, world.agentId, { createdSince: at(12) })).items.map((job) => job.id)).toEqual([ids[3]]);
      expect(await codeOf(listJobs(context, scope, world.agentId, { createdSince: 'yesterday' as unknown as Date }))).toBe('input.invalid');
    });

    it("pages through a job's fan-out children in creation order; another agent's job is missing", async () => {
      const world = await agentWithFlow(context, 'jobs-children');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const parent = await newJob(world);
      const children = await asEngine(context, world.tenant.id, (trx) => createChildJobs(context, trx, parent.id, [{ itemKey: 'a' }, { itemKey: 'b' }, { itemKey: 'c' }]));
      const first = await listJobChildren(context, scope, world.agentId, parent.id, { limit: 2 });
      const second = await listJobChildren(context, scope, world.agentId, parent.id, { limit: 2, cursor: first.nextCursor ?? '' });
      const expected = [...children].map((child) => child.id).sort();
      expect([...first.items, ...second.items].map((job) => job.id).sort()).toEqual(expected);
      expect(second.nextCursor).toBeNull();
      expect([...first.items, ...second.items].every((job) => job.parentJobId === parent.id)).toBe(true);
      const elsewhere = await agentWithFlow(context, 'jobs-children-2');
      expect(await codeOf(listJobChildren(context, scope, world.agentId, (await newJob(elsewhere)).id))).toBe('job.not_found');
    });

    it('refuses a member without view_logs, and hides the agent from a member without a role on it', async () => {
      const world = await agentWithFlow(context, 'jobs-access', ['author', 'editor']);
      const owner = await scopeOf(context, world.owner.id, world.tenant.id);
      await grantAgentRole(context, owner, world.agentId, { userId: world.members.author!.id, role: 'operator' });
      const author = await scopeOf(context, world.members.author!.id, world.tenant.id);
      expect(await codeOf(listJobs(context, author, world.agentId))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'logs.read', reason: 'missing_capability' });
      const editor = await scopeOf(context, world.members.editor!.id, world.tenant.id);
      expect(await codeOf(listJobs(context, editor, world.agentId))).toBe('agent.not_found');
    });
  });

  describe('the index', () => {
    it("serves a page of an agent's or a flow's newest jobs from its index, with no sort", async () => {
      const world = await agentWithFlow(context, 'jobs-index');
      const after = { at: context.now(), id: 'job_x' };
      const plans = await asEngine(context, world.tenant.id, async (trx) => {
        // A tiny table is cheapest to scan; without that option the plan must use an index, and shows whether one can serve the order.
        await sql`set local enable_seqscan = off`.execute(trx);
        const plan = async (owner: Parameters<typeof newestJobsQuery>[1]) =>
          (await newestJobsQuery(trx, owner, { after, limit: 51 }).explain()).map((row) => Object.values(row).join(' ')).join('\n');
        return [await plan({ agentId: world.agentId }), await plan({ flowId: world.flowId })];
      });
      expect(plans[0]).toContain('dm_jobs_agent_newest_idx');
      expect(plans[1]).toContain('dm_jobs_flow_newest_idx');
      for (const plan of plans) expect(plan).not.toMatch(/\bSort\b/);
    });
  });

  describe('reading one', () => {
    it('shows a job with its children counts', async () => {
      const world = await agentWithFlow(context, 'jobs-get');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const parent = await newJob(world);
      await asEngine(context, world.tenant.id, (trx) => createChildJobs(context, trx, parent.id, [{ itemKey: 'a' }, { itemKey: 'b' }]));
      expect(await getJob(context, scope, world.agentId, parent.id)).toMatchObject({ id: parent.id, children: { total: 2, ended: 0, failed: 0 } });
    });

    it("reports another agent's job exactly as a missing one", async () => {
      const world = await agentWithFlow(context, 'jobs-other');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const elsewhere = await agentWithFlow(context, 'jobs-other-2');
      const foreign = await newJob(elsewhere);
      const hidden = (await getJob(context, scope, world.agentId, foreign.id).catch((error: unknown) => error)) as DataMachineError;
      const missing = (await getJob(context, scope, world.agentId, 'job_missing').catch((error: unknown) => error)) as DataMachineError;
      expect([hidden.code, missing.code]).toEqual(['job.not_found', 'job.not_found']);
      expect(Object.keys(hidden.details ?? {})).toEqual(Object.keys(missing.details ?? {}));
    });
  });

  describe('cancelling', () => {
    it('cancels a waiting job with its live children, gives back its queue lease and releases its claims', async () => {
      const world = await agentWithFlow(context, 'jobs-cancel');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      await addToQueue(context, scope, world.agentId, { flow: 'main', stepKey: 'ai', queue: 'prompt' }, 'the prompt');
      const job = await newJob(world);
      const children = await asEngine(context, world.tenant.id, async (trx) => {
        await transitionJob(context, trx, job.id, { to: 'processing', engineJobId: 'boss-1' });
        await takeFromQueue(context, trx, { flowId: world.flowId, stepKey: 'ai', queue: 'prompt', mode: 'drain', jobId: job.id });
        await claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId: job.id, sourceKeys: ['x', 'y'], max: 2 });
        const created = await createChildJobs(context, trx, job.id, [{ itemKey: 'x' }]);
        await transitionJob(context, trx, job.id, { to: 'waiting', reason: 'children' });
        return created;
      });
      const cancelled = await cancelJob(context, scope, world.agentId, job.id);
      expect(cancelled).toMatchObject({ status: 'cancelled', statusReason: 'cancelled_by_operator', finishedAt: context.now() });
      const child = await database.db.selectFrom('dm_jobs').select(['status', 'status_reason']).where('id', '=', children[0]!.id).executeTakeFirstOrThrow();
      expect(child).toEqual({ status: 'cancelled', status_reason: 'cancelled_by_operator' });
      expect((await listQueue(context, scope, world.agentId, { flow: 'main', stepKey: 'ai', queue: 'prompt' })).map((entry) => entry.leasedByJobId)).toEqual([null]);
      expect(await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', world.flowId).execute()).toEqual([]);
    });

    it("leaves a processing job's leases to its worker, whose next move is stale", async () => {
      const world = await agentWithFlow(context, 'jobs-cancel-running');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const job = await newJob(world);
      await asEngine(context, world.tenant.id, async (trx) => {
        await transitionJob(context, trx, job.id, { to: 'processing', engineJobId: 'boss-1' });
        await claimItems(context, trx, { flowId: world.flowId, stepKey: 'fetch', jobId: job.id, sourceKeys: ['x'], max: 1 });
      });
      await cancelJob(context, scope, world.agentId, job.id);
      expect(await database.db.selectFrom('dm_processed_items').select('source_key').where('flow_id', '=', world.flowId).execute()).toEqual([{ source_key: 'x' }]);
      expect(await asEngine(context, world.tenant.id, (trx) => transitionJob(context, trx, job.id, { to: 'completed' }, { engineJobId: 'boss-1' }))).toBeNull();
    });

    it('counts a cancelled child as ended on its parent', async () => {
      const world = await agentWithFlow(context, 'jobs-cancel-child');
      const scope = await scopeOf(context, world.owner.id, world.tenant.id);
      const parent = await newJob(world);
      const [child] = await asEngine(context, world.tenant.id, async (trx) => {
        await transitionJob(context, trx, parent.id, { to: 'processing', engineJobId: 'boss-1' });
        const created = await createChildJobs(context, trx, parent.id, [{ itemKey: 'only' }]);
        await transitionJob(context, trx, parent.id, { to: 'waiting', reason: 'children' });
        return created;
      });
      await cancelJob(context, scope, world.agentId, child!.id);
      expect(await getJob(context, scope, world.agentId, parent.id)).toMatchObject({ status: 'completed', children: { total: 1, ended: 1, failed: 0 } });
    });

    it('refuses an ended job, and a member who may read but not run', async () => {
      const world = await agentWithFlow(context, 'jobs-cancel-refuse', ['editor']);
      const owner = await scopeOf(context, world.owner.id, world.tenant.id);
      const job = await newJob(world);
      await grantAgentRole(context, owner, world.agentId, { userId: world.members.editor!.id, role: 'viewer' });
      const viewer = await scopeOf(context, world.members.editor!.id, world.tenant.id);
      expect(await codeOf(cancelJob(context, viewer, world.agentId, job.id))).toBe('access.denied');
      await cancelJob(context, owner, world.agentId, job.id);
      expect(await codeOf(cancelJob(context, owner, world.agentId, job.id))).toBe('job.ended');
    });
  });
});
