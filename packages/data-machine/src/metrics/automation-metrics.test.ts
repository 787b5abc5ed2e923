import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase, JobStatus } from '../database/data-machine-database';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { readAutomationMetrics } from './automation-metrics';

await describeEachDatabase<DataMachineDatabase>('automation metrics', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const at = (iso: string) => new Date(iso);
  async function addJob(world: EngineWorld, status: JobStatus, times: { started?: string; finished?: string } = {}): Promise<void> {
    await asEngine(context, world.tenant.id, (trx) =>
      trx
        .insertInto('dm_jobs')
        .values({
          id: context.newId('job'),
          tenant_id: world.tenant.id,
          agent_id: world.agentId,
          flow_id: world.flowId,
          pipeline_id: world.pipelineId,
          source: 'manual',
          status,
          created_at: at('2026-12-01T10:00:00Z'),
          started_at: times.started === undefined ? null : at(times.started),
          finished_at: times.finished === undefined ? null : at(times.finished),
        })
        .execute(),
    );
  }
  async function addQueueEntry(world: EngineWorld, queue: 'prompt' | 'config_patch', position: number): Promise<void> {
    await asEngine(context, world.tenant.id, (trx) =>
      trx
        .insertInto('dm_queue_entries')
        .values({ id: context.newId('que'), tenant_id: world.tenant.id, agent_id: world.agentId, flow_id: world.flowId, step_key: 'ai', queue, position, body: JSON.stringify(queue === 'prompt' ? 'hi' : {}), created_by: null, created_at: context.now() })
        .execute(),
    );
  }
  /** A run record of the substrate, as an `ai` step or a chat turn leaves one. */
  async function addRun(world: EngineWorld, agent: string, usage: Record<string, number>, endedAt: string | null): Promise<void> {
    const sessionId = context.newId('ses');
    const now = at('2026-12-01T10:00:00Z');
    await sql`insert into agents_sessions (id, agent_slug, user_key, tenant_key, created_at, updated_at) values (${sessionId}, ${agent}, 'u', ${world.tenant.id}, ${now}, ${now})`.execute(database.db);
    await sql`insert into agents_runs (id, session_id, agent_slug, user_key, tenant_key, status, usage, seq_at_start, started_at, updated_at, ended_at)
              values (${context.newId('run')}, ${sessionId}, ${agent}, 'u', ${world.tenant.id}, 'completed', ${JSON.stringify(usage)}::jsonb, 0, ${now}, ${now}, ${endedAt === null ? null : at(endedAt)})`.execute(database.db);
  }

  describe('gauges', () => {
    it('counts live jobs by status and queue entries by queue, per tenant slug; ended jobs are not counted', async () => {
      const world = await agentWithFlow(context, 'metrics-gauges');
      await addJob(world, 'pending');
      await addJob(world, 'pending');
      await addJob(world, 'waiting');
      await addJob(world, 'completed', { started: '2026-12-01T10:00:00Z', finished: '2026-12-01T10:00:02Z' });
      await addQueueEntry(world, 'prompt', 1);
      await addQueueEntry(world, 'prompt', 2);
      await addQueueEntry(world, 'config_patch', 1);
      const { gauges } = await readAutomationMetrics(context, undefined);
      const mine = <T extends { tenant: string }>(rows: readonly T[]) => rows.filter((row) => row.tenant === world.tenant.slug);
      expect(mine(gauges.liveJobs).sort((a, b) => a.status.localeCompare(b.status))).toEqual([
        { tenant: world.tenant.slug, status: 'pending', count: 2 },
        { tenant: world.tenant.slug, status: 'waiting', count: 1 },
      ]);
      expect(mine(gauges.queueEntries).sort((a, b) => a.queue.localeCompare(b.queue))).toEqual([
        { tenant: world.tenant.slug, queue: 'config_patch', count: 1 },
        { tenant: world.tenant.slug, queue: 'prompt', count: 2 },
      ]);
    });
  });

  describe('ended work in a window', () => {
    it('reads the jobs that finished inside (after, until] with their durations, and token usage by agent', async () => {
      const world = await agentWithFlow(context, 'metrics-window');
      await addJob(world, 'completed', { started: '2026-12-01T11:00:00Z', finished: '2026-12-01T11:00:03.5Z' });
      await addJob(world, 'failed', { started: '2026-12-01T11:00:00Z', finished: '2026-12-01T11:01:00Z' });
      await addJob(world, 'skipped', { finished: '2026-12-01T11:02:00Z' });
      await addJob(world, 'completed', { started: '2026-12-01T10:00:00Z', finished: '2026-12-01T10:59:59Z' });
      await addJob(world, 'completed', { started: '2026-12-01T12:00:00Z', finished: '2026-12-01T12:00:01Z' });
      await addRun(world, 'writer', { inputTokens: 100, outputTokens: 20 }, '2026-12-01T11:30:00Z');
      await addRun(world, 'writer', { inputTokens: 5, outputTokens: 1 }, '2026-12-01T11:31:00Z');
      await addRun(world, 'helper', {}, '2026-12-01T11:32:00Z');
      await addRun(world, 'writer', { inputTokens: 1000, outputTokens: 1000 }, null);
      await addRun(world, 'writer', { inputTokens: 1000, outputTokens: 1000 }, '2026-12-01T12:30:00Z');
      const { ended } = await readAutomationMetrics(context, { after: at('2026-12-01T11:00:00Z'), until: at('2026-12-01T12:00:00Z') });
      const mine = <T extends { tenant: string }>(rows: readonly T[]) => rows.filter((row) => row.tenant === world.tenant.slug);
      expect(mine(ended.jobs).sort((a, b) => a.status.localeCompare(b.status))).toEqual([
        { tenant: world.tenant.slug, status: 'completed', durationSeconds: 3.5 },
        { tenant: world.tenant.slug, status: 'failed', durationSeconds: 60 },
        { tenant: world.tenant.slug, status: 'skipped', durationSeconds: null },
      ]);
      expect(mine(ended.runs).sort((a, b) => a.agent.localeCompare(b.agent))).toEqual([
        { tenant: world.tenant.slug, agent: 'helper', inputTokens: 0, outputTokens: 0 },
        { tenant: world.tenant.slug, agent: 'writer', inputTokens: 105, outputTokens: 21 },
      ]);
    });

    it('keeps tenants apart: a tenant\'s runs are labelled with that tenant only', async () => {
      const first = await agentWithFlow(context, 'metrics-first');
      const second = await agentWithFlow(context, 'metrics-second');
      await addRun(first, 'writer', { inputTokens: 7, outputTokens: 0 }, '2026-12-01T15:00:00Z');
      const { ended } = await readAutomationMetrics(context, { after: at('2026-12-01T14:59:00Z'), until: at('2026-12-01T15:01:00Z') });
      expect(ended.runs.filter((row) => row.tenant === first.tenant.slug)).toEqual([{ tenant: first.tenant.slug, agent: 'writer', inputTokens: 7, outputTokens: 0 }]);
      expect(ended.runs.filter((row) => row.tenant === second.tenant.slug)).toEqual([]);
    });
  });
});
