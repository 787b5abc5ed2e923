import { describeEachDatabase } from '@data-machine/testkit';
import { accessChangeChannel, createBearerAccessCache, createMemoryPromptCache, memoryChangeChannel, type DataMachineDatabase } from 'data-machine';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { changeFeedSourceOf, recordChanges } from '../../test/support/change-feed-recorder';
import { changeFeeds, listenForChanges, type ChangeFeedEvent, type ChangeFeedListener } from './change-feed-listener';

const isChange = (table: string) => (event: ChangeFeedEvent) => event.kind === 'changed' && event.table === table;

await describeEachDatabase<DataMachineDatabase>('change feed listener', (database) => {
  let listener: ChangeFeedListener | undefined;
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
  });

  /** A listening listener on the suite's database, its caches and its events. */
  async function listening(retryMs = 1_000) {
    const caches = { accessCache: createBearerAccessCache(), memoryPromptCache: createMemoryPromptCache() };
    const recorder = recordChanges();
    listener = listenForChanges({ source: changeFeedSourceOf(database.database), feeds: changeFeeds(caches), onEvent: recorder.onEvent, retryMs });
    await recorder.next((event) => event.kind === 'listening');
    return { cache: caches.accessCache, memory: caches.memoryPromptCache, recorder };
  }

  /**
   * The events from `from` until a sentinel notification sent now: notifications arrive in commit
   * order, so what is not before it was never sent. It waits for this call's own sentinel (one
   * heard after the call began), not an earlier call's, which may already be recorded.
   */
  async function eventsUntilNow(recorder: ReturnType<typeof recordChanges>, from: number): Promise<ChangeFeedEvent[]> {
    const heard = recorder.events.length;
    await sql`select pg_notify(${accessChangeChannel}, 'sentinel')`.execute(database.db);
    await recorder.next(isChange('sentinel'), heard);
    return recorder.events.slice(from).filter((event) => !isChange('sentinel')(event));
  }

  const accessKey = { role: null, tokenHash: 'h', isUserToken: true, tenantRef: null, tenantId: null, agentRef: null };
  const memoryTarget = { tenantId: null, agentSlug: 'helper', userId: null };

  it('empties the access cache, and only it, on a committed write of a table dm_bearer_access reads', async () => {
    const { cache, memory, recorder } = await listening();
    await cache.read(accessKey, async () => ['row'], () => true);
    await memory.read(memoryTarget, async () => 'prompt');
    expect([cache.size, memory.size]).toEqual([1, 1]);
    const from = recorder.events.length;
    await sql`update dm_agent_grants set role = role`.execute(database.db);
    await recorder.next(isChange('dm_agent_grants'), from);
    expect([cache.size, memory.size]).toEqual([0, 1]);
  });

  it('empties the memory-prompt cache, and only it, on a committed write of a memory file', async () => {
    const { cache, memory, recorder } = await listening();
    await cache.read(accessKey, async () => ['row'], () => true);
    await memory.read(memoryTarget, async () => 'prompt');
    const from = recorder.events.length;
    await sql`insert into agents_memory_files (layer, tenant_key, agent_slug, user_key, path, content, content_hash, bytes, updated_at)
      values ('agent', '', 'helper', '', 'NOTES.md', 'x', 'h', 1, now())`.execute(database.db);
    await recorder.next(isChange('agents_memory_files'), from);
    expect([cache.size, memory.size]).toEqual([1, 0]);
    expect(await eventsUntilNow(recorder, from)).toEqual([{ kind: 'changed', channel: memoryChangeChannel, table: 'agents_memory_files' }]);
    await sql`delete from agents_memory_files where path = 'NOTES.md'`.execute(database.db);
  });

  it('hears nothing of a rolled-back write, nor of a write of last_used_at alone', async () => {
    const { recorder } = await listening();
    const from = recorder.events.length;
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sql`update dm_tenants set name = name`.execute(trx);
        await sql`update agents_memory_files set content = content`.execute(trx);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await sql`update dm_user_tokens set last_used_at = now()`.execute(database.db);
    await sql`update dm_agent_tokens set last_used_at = now()`.execute(database.db);
    expect(await eventsUntilNow(recorder, from)).toEqual([]);
    await sql`update dm_user_tokens set revoked_at = revoked_at`.execute(database.db);
    expect(await eventsUntilNow(recorder, from)).toEqual([{ kind: 'changed', channel: accessChangeChannel, table: 'dm_user_tokens' }]);
  });

  it('uses the caches only while it listens; closed, it leaves them bypassed', async () => {
    const caches = { accessCache: createBearerAccessCache(), memoryPromptCache: createMemoryPromptCache() };
    const recorder = recordChanges();
    listener = listenForChanges({ source: changeFeedSourceOf(database.database), feeds: changeFeeds(caches), onEvent: recorder.onEvent });
    expect([caches.accessCache.active, caches.memoryPromptCache.active]).toEqual([false, false]);
    await recorder.next((event) => event.kind === 'listening');
    expect([caches.accessCache.active, caches.memoryPromptCache.active]).toEqual([true, true]);
    await listener.close();
    listener = undefined;
    expect([caches.accessCache.active, caches.memoryPromptCache.active]).toEqual([false, false]);
  });

  it.runIf(database.backend === 'postgres')('bypasses the caches while its connection is lost, and starts empty once it listens again', async () => {
    const { cache, memory, recorder } = await listening(10);
    await cache.read(accessKey, async () => ['row'], () => true);
    await memory.read(memoryTarget, async () => 'prompt');
    const from = recorder.events.length;
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like ${`listen ${accessChangeChannel};%`}`.execute(database.db);
    await recorder.next((event) => event.kind === 'lost', from);
    expect({ active: [cache.active, memory.active], size: [cache.size, memory.size] }).toEqual({ active: [false, false], size: [0, 0] });
    await recorder.next((event) => event.kind === 'listening', from);
    expect({ active: [cache.active, memory.active], size: [cache.size, memory.size] }).toEqual({ active: [true, true], size: [0, 0] });
    // Listening again, it hears changes again.
    const again = recorder.events.length;
    await sql`update dm_agents set name = name`.execute(database.db);
    await recorder.next(isChange('dm_agents'), again);
  });
});
