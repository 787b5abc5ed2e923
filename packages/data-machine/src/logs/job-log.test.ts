import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createJob } from '../jobs/job-lifecycle';
import { codeOf, migratedContext, scopeOf, type TestContext } from '../../test/support/identity-fixture';
import { agentWithFlow, asEngine, type EngineWorld } from '../../test/support/engine-fixture';
import { listAgentLogs, listJobLogs, writeJobLog, writeJobLogs, type NewJobLogLine } from './job-log';

await describeEachDatabase<DataMachineDatabase>('job logs', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const newJob = async (world: EngineWorld) => (await asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: world.flowId, source: 'manual' }))).job.id;
  const write = (world: EngineWorld, line: NewJobLogLine) => asEngine(context, world.tenant.id, (trx) => writeJobLog(context, trx, line));

  it("writes a job's lines with the job's agent and lists them oldest first, a page at a time", async () => {
    const world = await agentWithFlow(context, 'logs-job');
    const scope = await scopeOf(context, world.owner.id, world.tenant.id);
    const job = await newJob(world);
    for (let index = 0; index < 5; index += 1) await write(world, { jobId: job, level: 'info', message: `line ${index}`, context: { index } });
    const first = await listJobLogs(context, scope, world.agentId, job, { limit: 3 });
    expect(first.items.map((line) => line.message)).toEqual(['line 0', 'line 1', 'line 2']);
    expect(first.items[0]).toMatchObject({ agentId: world.agentId, jobId: job, level: 'info', context: { index: 0 } });
    const second = await listJobLogs(context, scope, world.agentId, job, { limit: 3, cursor: first.nextCursor! });
    expect(second).toMatchObject({ items: [{ message: 'line 3' }, { message: 'line 4' }], nextCursor: null });
  });

  it("lists an agent's lines newest first, from a least level up", async () => {
    const world = await agentWithFlow(context, 'logs-agent');
    const scope = await scopeOf(context, world.owner.id, world.tenant.id);
    const job = await newJob(world);
    await write(world, { jobId: job, level: 'debug', message: 'noise' });
    await write(world, { agentId: world.agentId, level: 'warn', message: 'agent-level' });
    context.setNow(new Date(context.now().getTime() + 1000));
    await write(world, { jobId: job, level: 'error', message: 'broke' });
    const page = await listAgentLogs(context, scope, world.agentId, { minLevel: 'warn' });
    expect(page.items.map((line) => [line.message, line.jobId])).toEqual([
      ['broke', job],
      ['agent-level', null],
    ]);
    const paged = await listAgentLogs(context, scope, world.agentId, { limit: 2 });
    const rest = await listAgentLogs(context, scope, world.agentId, { limit: 2, cursor: paged.nextCursor! });
    expect([...paged.items, ...rest.items].map((line) => line.message)).toEqual(['broke', 'agent-level', 'noise']);
  });

  it("refuses logs.read without view_logs, and another agent's job is not found", async () => {
    const world = await agentWithFlow(context, 'logs-access', ['author']);
    const owner = await scopeOf(context, world.owner.id, world.tenant.id);
    const elsewhere = await agentWithFlow(context, 'logs-access-other');
    expect(await codeOf(listJobLogs(context, owner, world.agentId, await newJob(elsewhere)))).toBe('job.not_found');
    const author = await scopeOf(context, world.members.author!.id, world.tenant.id);
    expect(await codeOf(listAgentLogs(context, author, world.agentId))).toBe('agent.not_found');
  });

  it('refuses a line about a job or an agent of another tenant', async () => {
    const world = await agentWithFlow(context, 'logs-missing');
    const elsewhere = await agentWithFlow(context, 'logs-missing-other');
    expect(await codeOf(write(world, { jobId: await newJob(elsewhere), level: 'info', message: 'x' }))).toBe('job.not_found');
    expect(await codeOf(write(world, { agentId: elsewhere.agentId, level: 'info', message: 'x' }))).toBe('agent.not_found');
  });

  it("writes a batch of a job's lines in the order given, each at the time it was logged", async () => {
    const world = await agentWithFlow(context, 'logs-batch');
    const scope = await scopeOf(context, world.owner.id, world.tenant.id);
    const job = await newJob(world);
    const at = (seconds: number) => new Date(Date.UTC(2026, 11, 1, 8, 0, seconds));
    await asEngine(context, world.tenant.id, (trx) =>
      writeJobLogs(context, trx, job, [
        { level: 'info', message: 'step started', context: { step: 'a' }, at: at(2) },
        { level: 'error', message: 'x'.repeat(5_000), at: at(1) },
        { level: 'debug', message: 'no time given' },
      ]),
    );
    const page = await listJobLogs(context, scope, world.agentId, job);
    expect(page.items.map((line) => [line.level, line.message.length, line.context])).toEqual([
      ['info', 12, { step: 'a' }],
      ['error', 4_000, {}],
      ['debug', 13, {}],
    ]);
    expect(page.items.map((line) => line.createdAt)).toEqual([at(2), at(1), context.now()]);
  });

  it("refuses a batch about another tenant's job and writes none of it", async () => {
    const world = await agentWithFlow(context, 'logs-batch-missing');
    const elsewhere = await agentWithFlow(context, 'logs-batch-missing-other');
    const job = await newJob(elsewhere);
    expect(await codeOf(asEngine(context, world.tenant.id, (trx) => writeJobLogs(context, trx, job, [{ level: 'info', message: 'x' }])))).toBe('job.not_found');
    const rows = await database.db.selectFrom('dm_job_logs').select('id').where('job_id', '=', job).execute();
    expect(rows).toEqual([]);
  });

  it('keeps a long message to its cap', async () => {
    const world = await agentWithFlow(context, 'logs-long');
    const job = await newJob(world);
    await write(world, { jobId: job, level: 'info', message: 'x'.repeat(10_000) });
    const row = await database.db.selectFrom('dm_job_logs').select('message').where('job_id', '=', job).executeTakeFirstOrThrow();
    expect(row.message).toHaveLength(4_000);
  });
});
