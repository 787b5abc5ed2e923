import { createMessage, type TranscriptStore } from '@data-machine/agents-api';
import { createPostgresTranscriptStore, type AgentsApiDatabase } from '@data-machine/agents-api/postgres';
import { describeEachDatabase } from '@data-machine/testkit';
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { inTenant, inTransaction } from '../scope/tenant-transaction';
import { startChatSession } from '../transcripts/chat-sessions';
import { migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { createAgent } from './agent-repository';
import { deleteAgentSubstrateData, withSubstrateTables } from './agent-substrate-data';

await describeEachDatabase<DataMachineDatabase & AgentsApiDatabase>('agent substrate data under the plain role', (database) => {
  let context: TestContext;
  let transcripts: TranscriptStore;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    // The host's connection, as chat turns and `ai` steps write transcripts.
    transcripts = createPostgresTranscriptStore({ db: database.db, now: () => context.now() });
  });

  /** A tenant whose agent `bot` has one chat of its owner: a session, a message and a run record. */
  async function tenantWithChat(slug: string) {
    const { tenant, owner } = await tenantWithMembers(context, slug);
    const scope = await scopeOf(context, owner.id, tenant.id);
    await createAgent(context, scope, { slug: 'bot', name: 'Bot' });
    const session = await startChatSession(context, scope, transcripts, 'bot', { title: 'chat' });
    const chatOwner = { userId: session.userId, tenantId: tenant.id };
    await transcripts.append(chatOwner, session.id, [createMessage({ type: 'text', role: 'user', content: 'hi', payload: {} })]);
    const run = await transcripts.beginRun(chatOwner, session.id, { agentSlug: 'bot', seqAtStart: 1 });
    return { tenantId: tenant.id, sessionId: session.id, runId: run.run.id };
  }

  /** What the plain role sees of both tables in a transaction of `tenantId` (none: a transaction without a tenant). */
  function seenBy(tenantId: string | null) {
    return inTransaction(context, { tenantId }, async (trx) => {
      const substrate = withSubstrateTables(trx);
      const sessions = await substrate.selectFrom('agents_sessions').select('id').execute();
      const runs = await substrate.selectFrom('agents_runs').select('id').execute();
      return { sessions: sessions.map((row) => row.id).sort(), runs: runs.map((row) => row.id).sort() };
    });
  }

  it("reads only its own tenant's sessions and run records, and none without a tenant", async () => {
    const mine = await tenantWithChat('substrate-read-mine');
    const theirs = await tenantWithChat('substrate-read-theirs');
    const seen = await seenBy(mine.tenantId);
    expect(seen).toEqual({ sessions: [mine.sessionId], runs: [mine.runId] });
    expect(seen.sessions).not.toContain(theirs.sessionId);
    expect(await seenBy(null)).toEqual({ sessions: [], runs: [] });
  });

  it("deletes none of another tenant's sessions, even when told their tenant and agent", async () => {
    const mine = await tenantWithChat('substrate-delete-mine');
    const theirs = await tenantWithChat('substrate-delete-theirs');
    const deleted = await inTenant(context, mine.tenantId, null, async (trx) => ({
      named: await deleteAgentSubstrateData(trx, theirs.tenantId, 'bot'),
      everything: Number((await sql`delete from agents_sessions`.execute(trx)).numAffectedRows),
    }));
    expect(deleted).toEqual({ named: { sessions: 0, memoryFiles: 0 }, everything: 1 });
    const left = await database.db.selectFrom('agents_sessions').select('id').where('id', 'in', [mine.sessionId, theirs.sessionId]).execute();
    expect(left.map((row) => row.id)).toEqual([theirs.sessionId]);
    const theirRuns = await database.db.selectFrom('agents_runs').select('id').where('session_id', '=', theirs.sessionId).execute();
    expect(theirRuns.map((row) => row.id)).toEqual([theirs.runId]);
  });
});
