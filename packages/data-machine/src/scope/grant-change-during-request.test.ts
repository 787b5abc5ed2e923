import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent, getAgent, updateAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { grantAgentRole } from '../grants/grant-repository';
import { codeOf, migratedContext, scopeOf, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { duringOpenChange } from '../../test/support/open-change';

await describeEachDatabase<DataMachineDatabase>('grant change during a request', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** An agent `ops` its editor administers through a grant, and the editor's scope, resolved while the grant holds. */
  async function grantedEditor(slug: string) {
    const { tenant, owner, members } = await tenantWithMembers(context, slug, ['editor']);
    const ownerScope = await scopeOf(context, owner.id, tenant.id);
    const agent = await createAgent(context, ownerScope, { slug: 'ops', name: 'Ops' });
    await grantAgentRole(context, ownerScope, 'ops', { userId: members.editor!.id, role: 'admin' });
    const editor = await scopeOf(context, members.editor!.id, tenant.id);
    expect(editor.facts.agentRoles.get(agent.id)).toBe('admin');
    return { ownerScope, agent, editor, editorId: members.editor!.id };
  }

  /** Runs `request` while another transaction changes the grant: see {@link duringOpenChange}. */
  const duringGrantChange = (change: (trx: typeof database.db) => Promise<unknown>, request: () => Promise<unknown>): Promise<string> =>
    duringOpenChange(database.db, change, request, codeOf);

  // One connection on PGlite: transactions cannot interleave there.
  describe.skipIf(database.backend !== 'postgres')('on Postgres', () => {
    it('refuses at write a request whose grant was revoked after its scope was resolved', async () => {
      const { agent, editor, editorId, ownerScope } = await grantedEditor('race-revoke');
      const code = await duringGrantChange(
        (trx) => trx.deleteFrom('dm_agent_grants').where('agent_id', '=', agent.id).where('user_id', '=', editorId).execute(),
        () => updateAgent(context, editor, 'ops', { name: 'Written after the revoke' }),
      );
      expect(code).toBe('agent.not_found');
      expect((await getAgent(context, ownerScope, 'ops')).name).toBe('Ops');
    });

    it('refuses at write a request whose role was lowered after its scope was resolved', async () => {
      const { agent, editor, editorId, ownerScope } = await grantedEditor('race-lower');
      const code = await duringGrantChange(
        (trx) => trx.updateTable('dm_agent_grants').set({ role: 'viewer' }).where('agent_id', '=', agent.id).where('user_id', '=', editorId).execute(),
        () => updateAgent(context, editor, 'ops', { name: 'Written as a viewer' }),
      );
      expect(code).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'agent.edit', reason: 'agent_role_too_low' });
      expect((await getAgent(context, ownerScope, 'ops')).name).toBe('Ops');
    });

    it('refuses at write a request whose membership was removed after its scope was resolved', async () => {
      const { editor, editorId, ownerScope } = await grantedEditor('race-member');
      const code = await duringGrantChange(
        (trx) => trx.deleteFrom('dm_memberships').where('tenant_id', '=', ownerScope.tenantId).where('user_id', '=', editorId).execute(),
        () => updateAgent(context, editor, 'ops', { name: 'Written by a former member' }),
      );
      expect(code).toBe('agent.not_found');
      expect((await getAgent(context, ownerScope, 'ops')).name).toBe('Ops');
    });
  });

  it('applies a revocation committed between resolving the scope and writing', async () => {
    const { agent, editor, editorId, ownerScope } = await grantedEditor('seq-revoke');
    await database.db.deleteFrom('dm_agent_grants').where('agent_id', '=', agent.id).where('user_id', '=', editorId).execute();
    expect(await codeOf(updateAgent(context, editor, 'ops', { name: 'Too late' }))).toBe('agent.not_found');
    expect((await getAgent(context, ownerScope, 'ops')).name).toBe('Ops');
  });
});
