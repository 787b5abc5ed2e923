import { can, ceilingAllows, defineTool, filterTools, principalForSubagent, type Principal } from '@data-machine/agents-api';
import { z } from 'zod';
import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../access/actor';
import { createAgent } from '../agents/agent-repository';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { grantAgentRole, revokeAgentRole } from '../grants/grant-repository';
import { authenticateAgentToken, createAgentToken, revokeAgentToken } from '../tokens/agent-token-repository';
import { codeOf, migratedContext, scopeOf, system, tenantWithMembers, type TestContext } from '../../test/support/identity-fixture';
import { agentActions, principalFor, resolveAgentPrincipal, toolUseCapability } from './agent-principal';
import { resolveScope } from './scope';

await describeEachDatabase<DataMachineDatabase>('agent runtime principal', (database) => {
  let context: TestContext;
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  /** A tenant with agent `bot`, an editor holding `role` on it, and a subscriber viewer. */
  async function agentWith(slug: string, role: 'admin' | 'operator' | 'viewer') {
    const setup = await tenantWithMembers(context, slug, ['editor', 'subscriber']);
    const ownerScope = await scopeOf(context, setup.owner.id, setup.tenant.id);
    const agent = await createAgent(context, ownerScope, { slug: 'bot', name: 'Bot' });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.editor!.id, role });
    await grantAgentRole(context, ownerScope, 'bot', { userId: setup.members.subscriber!.id, role: 'viewer' });
    return { ...setup, ownerScope, agent, editor: setup.members.editor!, subscriber: setup.members.subscriber! };
  }

  describe('for a user', () => {
    it("is the substrate's principal in the tenant, its ceiling the user's rights on the agent", async () => {
      const { tenant, agent, editor } = await agentWith('pr-user', 'operator');
      const principal = await resolveAgentPrincipal(context, { actor: { kind: 'user', userId: editor.id, channel: 'chat' }, tenantId: tenant.id, agentId: 'bot' });
      expect(principal).toMatchObject({ userId: editor.id, tenantId: tenant.id, agentSlug: agent.slug, authSource: 'user', requestContext: 'chat', tokenId: null, callerChain: [] });
      expect(principal.ceiling).toEqual({ allowed: ['agent.read', 'flow.run', 'queue.add', 'approval.read', 'job.undo', 'approval.resolve', 'logs.read', 'chat', 'tools.use'], denied: [] });
      expect(can(principal, toolUseCapability, principal.ceiling.allowed === 'unrestricted' ? [] : principal.ceiling.allowed)).toBe(true);
      expect(ceilingAllows(principal.ceiling, 'agent.edit')).toBe(false);
    });

    it('leaves tool use out for a member whose tenant role lacks use_tools', async () => {
      const { tenant, subscriber } = await agentWith('pr-subscriber', 'viewer');
      const principal = await resolveAgentPrincipal(context, { actor: { kind: 'user', userId: subscriber.id, channel: 'http' }, tenantId: tenant.id, agentId: 'bot' });
      expect(principal.ceiling.allowed).toEqual(['agent.read', 'approval.read', 'chat']);
      expect(ceilingAllows(principal.ceiling, toolUseCapability)).toBe(false);
    });

    it('lets the substrate offer a tool declaring tools.use only where the user may use tools', async () => {
      const { tenant, editor, subscriber } = await agentWith('pr-filter', 'viewer');
      const search = defineTool({ name: 'search', description: 'Searches.', input: z.object({ query: z.string() }), capability: toolUseCapability, execute: () => 'found' });
      const offered = (principal: Principal) => {
        const granted = principal.ceiling.allowed === 'unrestricted' ? [] : principal.ceiling.allowed;
        return filterTools([search], { principal, granted }).tools.map((tool) => tool.name);
      };
      const asUser = (userId: string) => resolveAgentPrincipal(context, { actor: { kind: 'user', userId, channel: 'chat' }, tenantId: tenant.id, agentId: 'bot' });
      expect(offered(await asUser(editor.id))).toEqual(['search']);
      expect(offered(await asUser(subscriber.id))).toEqual([]);
    });

    it('keeps the tenant and narrows the ceiling for a subagent', async () => {
      const { tenant, editor } = await agentWith('pr-sub', 'admin');
      const principal = await resolveAgentPrincipal(context, { actor: { kind: 'user', userId: editor.id, channel: 'http' }, tenantId: tenant.id, agentId: 'bot' });
      const child = principalForSubagent(principal, { agentSlug: 'checker', ceiling: { allowed: ['chat'], denied: [] } });
      expect(child).toMatchObject({ tenantId: tenant.id, userId: editor.id, callerChain: ['bot'], ceiling: { allowed: ['chat'] } });
    });

    it('is refused, as a missing agent, to a member without a role on it and to an outsider', async () => {
      const { tenant, members } = await tenantWithMembers(context, 'pr-none', ['editor']);
      const outsider = await tenantWithMembers(context, 'pr-outsider');
      const asUser = (userId: string): Actor => ({ kind: 'user', userId, channel: 'http' });
      expect(await codeOf(resolveAgentPrincipal(context, { actor: asUser(members.editor!.id), tenantId: tenant.id, agentId: 'default' }))).toBe('agent.not_found');
      expect(await codeOf(resolveAgentPrincipal(context, { actor: asUser(outsider.owner.id), tenantId: tenant.id, agentId: 'default' }))).toBe('agent.not_found');
      expect(await codeOf(resolveAgentPrincipal(context, { actor: asUser(members.editor!.id), tenantId: tenant.id, agentId: 'no-such-agent' }))).toBe('agent.not_found');
    });
  });

  describe('for a token', () => {
    it("narrows its owner's ceiling to what the token lists", async () => {
      const { tenant, editor } = await agentWith('pr-token', 'admin');
      const { secret } = await createAgentToken(context, await scopeOf(context, editor.id, tenant.id), 'bot', { label: 'chat only', ceiling: ['chat'] });
      const { actor } = await authenticateAgentToken(context, secret, 'http');
      const principal = await resolveAgentPrincipal(context, { actor, tenantId: tenant.id, agentId: 'bot' });
      expect(principal).toMatchObject({ userId: editor.id, authSource: 'token', tokenId: actor.tokenId, requestContext: 'http' });
      expect(principal.ceiling.allowed).toEqual(['agent.read', 'chat']);
      const owners = await resolveAgentPrincipal(context, { actor: { kind: 'user', userId: editor.id, channel: 'http' }, tenantId: tenant.id, agentId: 'bot' });
      expect(owners.ceiling.allowed).toEqual(agentActions);
    });

    it('gives tool use only to a token whose ceiling lists use_tools', async () => {
      const { tenant, editor } = await agentWith('pr-token-tools', 'admin');
      const { secret } = await createAgentToken(context, await scopeOf(context, editor.id, tenant.id), 'bot', { label: 'tools', ceiling: ['chat', 'use_tools'] });
      const { actor } = await authenticateAgentToken(context, secret, 'http');
      const principal = await resolveAgentPrincipal(context, { actor, tenantId: tenant.id, agentId: 'bot' });
      expect(principal.ceiling.allowed).toEqual(['agent.read', 'chat', 'tools.use']);
    });

    it('is refused once the token is revoked, though it authenticated before', async () => {
      const { tenant, editor } = await agentWith('pr-token-revoked', 'admin');
      const editorScope = await scopeOf(context, editor.id, tenant.id);
      const { token, secret } = await createAgentToken(context, editorScope, 'bot', { label: 'soon revoked', ceiling: ['chat'] });
      const { actor } = await authenticateAgentToken(context, secret, 'http');
      await revokeAgentToken(context, editorScope, 'bot', token.id);
      expect(await codeOf(resolveAgentPrincipal(context, { actor, tenantId: tenant.id, agentId: 'bot' }))).toBe('access.denied');
    });
  });

  describe('for the system', () => {
    it('holds every agent action, and no user', async () => {
      const { tenant } = await agentWith('pr-system', 'viewer');
      const principal = await resolveAgentPrincipal(context, { actor: system, tenantId: tenant.id, agentId: 'bot' });
      expect(principal).toMatchObject({ userId: null, tenantId: tenant.id, authSource: 'system', requestContext: 'cli' });
      expect(principal.ceiling.allowed).toEqual(agentActions);
    });
  });

  describe('for scheduled work, re-checked when it runs', () => {
    const scheduled = (userId: string, agentId: string): Actor => ({ kind: 'schedule', userId, agentId, channel: 'schedule' });

    it('runs as the runtime with the rights of the user who scheduled it', async () => {
      const { tenant, agent, editor } = await agentWith('pr-schedule', 'operator');
      const principal = await resolveAgentPrincipal(context, { actor: scheduled(editor.id, agent.id), tenantId: tenant.id, agentId: agent.id });
      expect(principal).toMatchObject({ userId: editor.id, authSource: 'runtime', requestContext: 'schedule' });
      expect(principal.ceiling.allowed).toContain('flow.run');
    });

    it('is refused when the scheduling user lost the grant since', async () => {
      const { tenant, agent, editor, ownerScope } = await agentWith('pr-schedule-lost', 'operator');
      const actor = scheduled(editor.id, agent.id);
      await revokeAgentRole(context, ownerScope, 'bot', editor.id);
      expect(await codeOf(resolveAgentPrincipal(context, { actor, tenantId: tenant.id, agentId: agent.id }))).toBe('agent.not_found');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.run', reason: 'agent_invisible' });
    });

    it('is refused when the scheduling user was lowered to a role that cannot run flows', async () => {
      const { tenant, agent, editor, ownerScope } = await agentWith('pr-schedule-lowered', 'operator');
      await grantAgentRole(context, ownerScope, 'bot', { userId: editor.id, role: 'viewer' });
      expect(await codeOf(resolveAgentPrincipal(context, { actor: scheduled(editor.id, agent.id), tenantId: tenant.id, agentId: agent.id }))).toBe('access.denied');
      expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.run', reason: 'agent_role_too_low' });
    });

    it('never acts for another agent', async () => {
      const { tenant, agent, editor, ownerScope } = await agentWith('pr-schedule-other', 'admin');
      await createAgent(context, ownerScope, { slug: 'other', name: 'Other' });
      expect(await codeOf(resolveAgentPrincipal(context, { actor: scheduled(editor.id, agent.id), tenantId: tenant.id, agentId: 'other' }))).toBe('agent.not_found');
    });
  });

  describe('principalFor', () => {
    it('decides on the facts the scope was resolved with', async () => {
      const { tenant, agent, editor } = await agentWith('pr-pure', 'viewer');
      const scope = await resolveScope(context, { kind: 'user', userId: editor.id, channel: 'cli' }, tenant.id);
      const principal = principalFor(scope, agent, context.now());
      expect(principal).toMatchObject({ requestContext: 'cli', ceiling: { allowed: ['agent.read', 'approval.read', 'chat', 'tools.use'] } });
    });
  });
});
