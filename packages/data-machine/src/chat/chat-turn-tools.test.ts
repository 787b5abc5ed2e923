import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { getAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { grantAgentRole } from '../grants/grant-repository';
import type { Scope } from '../scope/scope';
import { countingContext } from '../../test/support/counting-context';
import { migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { openChatTools } from './chat-turn-tools';

await describeEachDatabase<DataMachineDatabase>('chat turn tools', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** Opens the tools of a turn of the tenant's default agent as `scope`, through a context that counts what it sends. */
  async function open(scope: Scope, resumedSessionId?: string) {
    const agent = await getAgent(context, scope, 'default');
    const counted = countingContext(context);
    const turn = await openChatTools({ context: counted.context, scope, agent, engine: undefined, sessionId: async () => resumedSessionId ?? 'new' }, { resumedSessionId });
    return { offered: turn.offered.map((tool) => tool.name), counts: counted.counts };
  }

  describe('a new session', () => {
    it('decides its tools on the rights the request was authorized with, sending no statement', async () => {
      const { tenant, owner } = await tenantWithMembers(context, 'ctt-new');
      const { offered, counts } = await open(await scopeOf(context, owner.id, tenant.id));
      expect(offered).toEqual(['list_flows', 'get_job']);
      expect(counts).toEqual({ statements: 0, transactions: 0 });
    });

    it('offers only the tools the scope may use: a viewer who may use tools reads flows, and not jobs', async () => {
      const { tenant, owner, members, defaultAgentId } = await tenantWithMembers(context, 'ctt-viewer', ['editor', 'subscriber']);
      const ownerScope = await scopeOf(context, owner.id, tenant.id);
      for (const member of [members.editor!, members.subscriber!]) await grantAgentRole(context, ownerScope, defaultAgentId, { userId: member.id, role: 'viewer' });
      expect((await open(await scopeOf(context, members.editor!.id, tenant.id))).offered).toEqual(['list_flows']);
      // A subscriber may chat but not use tools.
      expect((await open(await scopeOf(context, members.subscriber!.id, tenant.id))).offered).toEqual([]);
    });
  });

  it("decides a resumed session's tools in the one transaction that applies the decisions taken on its held calls", async () => {
    const { tenant, owner } = await tenantWithMembers(context, 'ctt-resumed');
    const { offered, counts } = await open(await scopeOf(context, owner.id, tenant.id), 'a-stored-session');
    expect(offered).toEqual(['list_flows', 'get_job']);
    expect(counts.transactions).toBe(1);
  });
});
