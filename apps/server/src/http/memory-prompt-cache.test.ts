import { createPostgresMemoryStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { connect, describeEachDatabase, textReply } from '@data-machine/testkit';
import { memoryChangeChannel, type DataMachineDatabase } from 'data-machine';
import { sql, type Kysely } from 'kysely';
import { expect, it } from 'vitest';
import { useChatWorld } from '../../test/support/chat-world';
import { as, tenantWorld } from '../../test/support/http-world';

await describeEachDatabase<DataMachineDatabase>('memory prompts cached between chat turns, over HTTP', (database) => {
  const world = useChatWorld(database, { changeFedCaches: true });

  /** Runs a turn in a new session and answers the system prompt the model got. */
  async function promptOfTurn(token: string): Promise<string | undefined> {
    const from = world.model.completionRequests().length;
    world.model.enqueue(textReply('Noted.'));
    const response = await world.app.inject({ method: 'POST', url: '/agents/default/chat', headers: as(token), payload: { message: 'Hi', stream: false } });
    expect(response.statusCode).toBe(200);
    const content = world.model.completionRequests()[from]?.messages.find((message) => message.role === 'system')?.content;
    return typeof content === 'string' ? content : undefined;
  }

  /** Waits until every notification of the writes so far is heard: they arrive in commit order, this one last. */
  async function setUpHeard(): Promise<void> {
    const from = world.changes.events.length;
    await sql`select pg_notify(${memoryChangeChannel}, 'heard')`.execute(database.db);
    await world.changes.next((event) => event.kind === 'changed' && event.channel === memoryChangeChannel && event.table === 'heard', from);
  }

  /** A tenant whose default agent's soul is `soul`, and its first turn (which fills the cache) run. */
  async function cachedSoul(slug: string, soul: string) {
    const tenant = await tenantWorld(world.context, slug);
    const saved = await world.app.inject({ method: 'PUT', url: '/agents/default/memory/SOUL.md', headers: as(tenant.owner.token, { 'if-none-match': '*' }), payload: { content: soul } });
    expect(saved.statusCode).toBe(201);
    // A late notification of the set-up's writes would empty the cache after the turn filled it.
    await setUpHeard();
    expect(await promptOfTurn(tenant.owner.token)).toContain(soul);
    expect(world.context.memoryPromptCache?.size).toBeGreaterThan(0);
    return { tenant, etag: String(saved.headers.etag) };
  }

  it('serves the memory part of the next turn from the cache: a write the change feed does not report is not read', async () => {
    const { tenant } = await cachedSoul('memory-cache-hit', 'You are Ada.');
    // Triggers off for one transaction (replica mode): the file changes and nobody is told.
    await database.db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      await sql`update agents_memory_files set content = 'You are Grace.' where tenant_key = ${tenant.tenant.id} and path = 'SOUL.md'`.execute(trx);
    });
    expect(await promptOfTurn(tenant.owner.token)).toMatch(/SOUL\.md\n\nYou are Ada\.$/);
  });

  it('puts a memory file saved over HTTP in the very next turn', async () => {
    const { tenant, etag } = await cachedSoul('memory-cache-http', 'You are Ada.');
    const saved = await world.app.inject({ method: 'PUT', url: '/agents/default/memory/SOUL.md', headers: as(tenant.owner.token, { 'if-match': etag }), payload: { content: 'You are Grace.' } });
    expect(saved.statusCode).toBe(200);
    const prompt = await promptOfTurn(tenant.owner.token);
    expect(prompt).toContain('You are Grace.');
    expect(prompt).not.toContain('You are Ada.');
  });

  it("sees another process's write once its notification arrives", async () => {
    const { tenant } = await cachedSoul('memory-cache-elsewhere', 'You are Ada.');
    // Another process: its own connection (on PGlite, the one database, written past this app).
    const other = (database.database.url === undefined ? database.db : connect(database.database.url)) as unknown as Kysely<AgentsApiDatabase>;
    try {
      const from = world.changes.events.length;
      await createPostgresMemoryStore({ db: other }).write({ layer: 'agent', tenantId: tenant.tenant.id, agentSlug: 'default', userId: null, path: 'SOUL.md' }, 'You are Grace.');
      await world.changes.next((event) => event.kind === 'changed' && event.channel === memoryChangeChannel, from);
      expect(await promptOfTurn(tenant.owner.token)).toContain('You are Grace.');
    } finally {
      if (other !== (database.db as unknown)) await other.destroy();
    }
  });
});
