import { describeEachDatabase } from '@data-machine/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { createFlow } from '../flows/flow-repository';
import type { PublishHandler } from '../handlers/handler';
import { createPipeline } from '../pipelines/pipeline-repository';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { flowWorld } from '../../test/support/pipeline-fixture';
import { deleteAgentSecret, listAgentSecrets, readAgentSecret, setAgentSecret } from './agent-secrets';
import { createHandlerSecrets } from './handler-secrets';
import { createSecretBox } from './secret-box';

await describeEachDatabase<DataMachineDatabase>('agent secrets', (database) => {
  let context: TestContext;
  const box = createSecretBox('s'.repeat(43), 'handler-secrets');
  beforeAll(async () => {
    context = await migratedContext(database.db);
  });

  const stored = (agentId: string) => database.db.selectFrom('dm_agent_secrets').select(['name', 'sealed']).where('agent_id', '=', agentId).orderBy('name').execute();

  describe('setting, listing, deleting', () => {
    it('keeps a value sealed, shows names only, replaces on a second set, and deletes', async () => {
      const world = await flowWorld(context, 'secrets-basic');
      const set = await setAgentSecret(context, box, world.admin, 'bot', 'wordpress_application_password', 'abcd efgh ijkl');
      expect(set).toMatchObject({ name: 'wordpress_application_password' });
      expect(set).not.toHaveProperty('value');
      const [row] = await stored(world.agent.id);
      expect(row?.sealed).not.toContain('abcd');
      await setAgentSecret(context, box, world.admin, 'bot', 'wordpress_application_password', 'second value');
      expect((await listAgentSecrets(context, world.viewer, 'bot')).map((secret) => secret.name)).toEqual(['wordpress_application_password']);
      expect(await readAgentSecret(context, box, { tenantId: world.tenant.id, agentId: world.agent.id, name: 'wordpress_application_password' })).toBe('second value');
      await deleteAgentSecret(context, world.admin, 'bot', 'wordpress_application_password');
      expect(await listAgentSecrets(context, world.admin, 'bot')).toEqual([]);
      expect(await readAgentSecret(context, box, { tenantId: world.tenant.id, agentId: world.agent.id, name: 'wordpress_application_password' })).toBeUndefined();
    });

    it('lets only the agent\'s admins set or delete (a viewer or operator: access.denied; someone without a role: agent.not_found), writing nothing', async () => {
      const world = await flowWorld(context, 'secrets-denied');
      expect(await codeOf(setAgentSecret(context, box, world.viewer, 'bot', 'api_token', 'x'))).toBe('access.denied');
      expect(await codeOf(setAgentSecret(context, box, world.operator, 'bot', 'api_token', 'x'))).toBe('access.denied');
      expect(await codeOf(setAgentSecret(context, box, world.member, 'bot', 'api_token', 'x'))).toBe('agent.not_found');
      expect(await codeOf(listAgentSecrets(context, world.member, 'bot'))).toBe('agent.not_found');
      expect(await stored(world.agent.id)).toEqual([]);
      await setAgentSecret(context, box, world.owner, 'bot', 'api_token', 'x');
      expect(await codeOf(deleteAgentSecret(context, world.viewer, 'bot', 'api_token'))).toBe('access.denied');
      expect(await codeOf(deleteAgentSecret(context, world.admin, 'bot', 'other'))).toBe('secret.not_found');
    });

    it('refuses a bad name or an empty or oversized value (input.invalid) before touching the database', async () => {
      const world = await flowWorld(context, 'secrets-input');
      expect(await codeOf(setAgentSecret(context, box, world.admin, 'bot', 'Bad Name', 'x'))).toBe('input.invalid');
      expect(await codeOf(setAgentSecret(context, box, world.admin, 'bot', 'ok', ''))).toBe('input.invalid');
      expect(await codeOf(setAgentSecret(context, box, world.admin, 'bot', 'ok', 'x'.repeat(4097)))).toBe('input.invalid');
      expect(await stored(world.agent.id)).toEqual([]);
    });

    it('does not open a sealed value copied to another agent (bound to tenant, agent and name)', async () => {
      const first = await flowWorld(context, 'secrets-bound-a');
      const second = await flowWorld(context, 'secrets-bound-b');
      await setAgentSecret(context, box, first.owner, 'bot', 'api_token', 'first agent only');
      await setAgentSecret(context, box, second.owner, 'bot', 'api_token', 'placeholder');
      const [row] = await stored(first.agent.id);
      await database.db.updateTable('dm_agent_secrets').set({ sealed: row?.sealed ?? '' }).where('agent_id', '=', second.agent.id).execute();
      expect(await codeOf(readAgentSecret(context, box, { tenantId: second.tenant.id, agentId: second.agent.id, name: 'api_token' }))).toBe('secret.unreadable');
    });
  });

  describe('handing a handler its secret', () => {
    const needsSecret: PublishHandler = {
      slug: 'needs_secret',
      kind: 'publish',
      secretName: 'api_token',
      configSchema: (() => {
        throw new Error('unused');
      }) as never,
      publish: async () => ({ id: 'x', created: true }),
    } as unknown as PublishHandler;

    it('gives the agent\'s secret named like the handler\'s secretName, or the one the flow step names; none for a handler without one', async () => {
      const world = await flowWorld(context, 'secrets-steps');
      await createPipeline(context, world.owner, world.handlers, 'bot', {
        slug: 'p',
        name: 'P',
        steps: [
          { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
          { key: 'store', type: 'publish', handler: 'records', config: { collection: 'c' } },
        ],
      });
      const plain = await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'p', slug: 'plain', name: 'Plain', stepConfig: { fetch: { handlerConfig: { items: [] } } } });
      const named = await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'p', slug: 'named', name: 'Named', stepConfig: { fetch: { handlerConfig: { items: [] } }, store: { secret: 'staging_token' } } });
      await setAgentSecret(context, box, world.owner, 'bot', 'api_token', 'default token');
      await setAgentSecret(context, box, world.owner, 'bot', 'staging_token', 'staging token');
      const secrets = createHandlerSecrets(context, box);
      const target = { tenantId: world.tenant.id, agentId: world.agent.id, stepKey: 'store', handler: needsSecret };
      expect(await secrets.forStep({ ...target, flowId: plain.id })).toBe('default token');
      expect(await secrets.forStep({ ...target, flowId: named.id })).toBe('staging token');
      expect(await secrets.forStep({ ...target, flowId: plain.id, handler: world.handlers.get('records') })).toBeUndefined();
    });

    it('refuses a flow that names a secret for a step without a handler (flow.invalid_config)', async () => {
      const world = await flowWorld(context, 'secrets-placement');
      await createPipeline(context, world.owner, world.handlers, 'bot', { slug: 'p', name: 'P', steps: [{ key: 'think', type: 'ai' }] });
      expect(await codeOf(createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'p', slug: 'f', name: 'F', stepConfig: { think: { secret: 'api_token' } } }))).toBe('flow.invalid_config');
    });
  });
});
