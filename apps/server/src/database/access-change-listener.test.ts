import { describeEachDatabase } from '@data-machine/testkit';
import { accessChangeChannel, createBearerAccessCache, type DataMachineDatabase } from 'data-machine';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { accessChangeSourceOf, recordAccessChanges } from '../../test/support/access-change-recorder';
import { listenForAccessChanges, type AccessChangeEvent, type AccessChangeListener } from './access-change-listener';

const isChange = (table: string) => (event: AccessChangeEvent) => event.kind === 'changed' && event.table === table;

await describeEachDatabase<DataMachineDatabase>('access change listener', (database) => {
  let listener: AccessChangeListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  /** A listening listener on the suite's database, its cache and its events. */
  async function listening(retryMs = 1_000) {
    const cache = createBearerAccessCache();
    const recorder = recordAccessChanges();
    listener = listenForAccessChanges({ source: accessChangeSourceOf(database.database), cache, onEvent: recorder.onEvent, retryMs });
    await recorder.next((event) => event.kind === 'listening');
    return { cache, recorder };
  }

  /** The events from `from` until a sentinel notification sent now: notifications arrive in commit order, so what is not before it was never sent. */
  async function eventsUntilNow(recorder: ReturnType<typeof recordAccessChanges>, from: number): Promise<AccessChangeEvent[]> {
    await sql`select pg_notify(${accessChangeChannel}, 'sentinel')`.execute(database.db);
    await recorder.next(isChange('sentinel'), from);
    return recorder.events.slice(from).filter((event) => !isChange('sentinel')(event));
  }

  it('empties the cache on a committed write of a table dm_bearer_access reads', async () => {
    const { cache, recorder } = await listening();
    await cache.read({ role: null, tokenHash: 'h', isUserToken: true, tenantRef: null, tenantId: null, agentRef: null }, async () => ['row'], () => true);
    expect(cache.size).toBe(1);
    const from = recorder.events.length;
    await sql`update dm_agent_grants set role = role`.execute(database.db);
    await recorder.next(isChange('dm_agent_grants'), from);
    expect(cache.size).toBe(0);
  });

  it('hears nothing of a rolled-back write, nor of a write of last_used_at alone', async () => {
    const { recorder } = await listening();
    const from = recorder.events.length;
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sql`update dm_tenants set name = name`.execute(trx);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await sql`update dm_user_tokens set last_used_at = now()`.execute(database.db);
    await sql`update dm_agent_tokens set last_used_at = now()`.execute(database.db);
    expect(await eventsUntilNow(recorder, from)).toEqual([]);
    await sql`update dm_user_tokens set revoked_at = revoked_at`.execute(database.db);
    expect(await eventsUntilNow(recorder, from)).toEqual([{ kind: 'changed', table: 'dm_user_tokens' }]);
  });

  it('uses the cache only while it listens; closed, it leaves the cache bypassed', async () => {
    const cache = createBearerAccessCache();
    const recorder = recordAccessChanges();
    listener = listenForAccessChanges({ source: accessChangeSourceOf(database.database), cache, onEvent: recorder.onEvent });
    expect(cache.active).toBe(false);
    await recorder.next((event) => event.kind === 'listening');
    expect(cache.active).toBe(true);
    await listener.close();
    listener = undefined;
    expect(cache.active).toBe(false);
  });

  it.runIf(database.backend === 'postgres')('bypasses the cache while its connection is lost, and starts empty once it listens again', async () => {
    const { cache, recorder } = await listening(10);
    await cache.read({ role: null, tokenHash: 'h', isUserToken: true, tenantRef: null, tenantId: null, agentRef: null }, async () => ['row'], () => true);
    const from = recorder.events.length;
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query = ${`listen ${accessChangeChannel}`}`.execute(database.db);
    await recorder.next((event) => event.kind === 'lost', from);
    expect({ active: cache.active, size: cache.size }).toEqual({ active: false, size: 0 });
    await recorder.next((event) => event.kind === 'listening', from);
    expect({ active: cache.active, size: cache.size }).toEqual({ active: true, size: 0 });
    // Listening again, it hears changes again.
    const again = recorder.events.length;
    await sql`update dm_agents set name = name`.execute(database.db);
    await recorder.next(isChange('dm_agents'), again);
  });
});
