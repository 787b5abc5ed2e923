import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { afterEach, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createFlow } from '../flows/flow-repository';
import { createPipeline } from '../pipelines/pipeline-repository';
import { inTransaction } from '../scope/tenant-transaction';
import { migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { digestStepConfig, digestSteps, flowWorld } from '../../test/support/pipeline-fixture';
import { resetScheduling } from '../../test/support/scheduler-fixture';
import { claimDueFlows, tenantsWithDueFlows } from './due-flows';

const start = new Date('2026-12-01T10:00:00.000Z');
const later = (ms: number) => new Date(start.getTime() + ms);

await describeEachDatabase<DataMachineDatabase>('due flows', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });
  afterEach(() => resetScheduling(database.db, { flows: true }));

  async function tenantWith(slug: string, flows: readonly { slug: string; paused?: boolean; manual?: boolean }[]) {
    context.setNow(start);
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.admin, world.handlers, 'bot', { slug: 'digest', name: 'Digest', steps: digestSteps });
    for (const flow of flows) {
      await createFlow(context, world.admin, world.handlers, 'bot', {
        pipeline: 'digest',
        slug: flow.slug,
        name: flow.slug,
        stepConfig: digestStepConfig,
        paused: flow.paused ?? false,
        schedule: flow.manual === true ? { kind: 'manual' } : { kind: 'one_time', at: start.toISOString() },
      });
    }
    return world;
  }

  it('names the tenants with due flows, and no tenant whose flows are paused or manual', async () => {
    const due = await tenantWith('due-yes', [{ slug: 'due' }]);
    await tenantWith('due-paused', [{ slug: 'paused', paused: true }]);
    await tenantWith('due-manual', [{ slug: 'manual', manual: true }]);
    expect(await tenantsWithDueFlows(context, later(1000), 10)).toEqual([due.tenant.id]);
    expect(await tenantsWithDueFlows(context, later(-1000), 10)).toEqual([]);
  });

  it('shows a transaction without a tenant no flow, and with the scan key only scheduled, unpaused flows', async () => {
    await tenantWith('scan-a', [{ slug: 'due' }, { slug: 'paused', paused: true }, { slug: 'manual', manual: true }]);
    const visible = (scan: boolean) =>
      inTransaction(context, {}, async (trx) => {
        if (scan) await sql`select set_config('dm.scan', 'due_flows', true)`.execute(trx);
        return (await trx.selectFrom('dm_flows').select('slug').execute()).map((row) => row.slug);
      });
    expect(await visible(false)).toEqual([]);
    expect(await visible(true)).toEqual(['due']);
  });

  it('claims a due flow once: a second claim before the first runs out finds nothing, after it the same tick', async () => {
    const world = await tenantWith('claim-once', [{ slug: 'due' }]);
    const first = await claimDueFlows(context, world.tenant.id, later(1000), later(61_000), 10);
    expect(first.map((claim) => claim.tick)).toEqual([start]);
    expect(await claimDueFlows(context, world.tenant.id, later(2000), later(62_000), 10)).toEqual([]);
    expect((await claimDueFlows(context, world.tenant.id, later(61_000), later(121_000), 10)).map((claim) => claim.tick)).toEqual([start]);
  });
});
