import { createAgentRegistry, type AgentRegistry } from '@data-machine/agents-api';
import { describeEachDatabase } from '@data-machine/testkit';
import { createDataMachineContext, createTenant, createUser, DataMachineError, type DataMachineContext } from 'data-machine';
import { beforeAll, expect, it } from 'vitest';
import { reconcileAtBoot } from './registered-agents-at-boot';

async function registryOf(...slugs: string[]): Promise<AgentRegistry> {
  const registry = createAgentRegistry();
  registry.onInit((agents) => {
    for (const slug of slugs) agents.register({ slug, label: slug, instructions: `You are ${slug}.` });
  });
  await registry.init();
  return registry;
}

await describeEachDatabase('registered agents at boot', (database) => {
  let context: DataMachineContext;
  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    const system = { kind: 'system', channel: 'cli', reason: 'test setup' } as const;
    const owner = await createUser(context, system, { email: 'boot-owner@example.test', displayName: 'Owner' });
    await createTenant(context, system, { slug: 'home', name: 'Home', ownerUserId: owner.id });
  });

  it('materialises the registry in the home tenant, then finds nothing to do', async () => {
    expect(await reconcileAtBoot(context, { homeTenant: 'home', registry: await registryOf('writer') })).toMatchObject({ created: ['writer'] });
    expect(await reconcileAtBoot(context, { homeTenant: 'home', registry: await registryOf('writer') })).toMatchObject({ created: [], unchanged: ['writer'] });
  });

  it('does nothing for an empty registry, even without a home tenant', async () => {
    expect(await reconcileAtBoot(context, { homeTenant: 'nowhere', registry: await registryOf() })).toBeNull();
  });

  it('refuses a home tenant that does not exist', async () => {
    const error = await reconcileAtBoot(context, { homeTenant: 'nowhere', registry: await registryOf('writer') }).catch((caught: unknown) => caught);
    expect(DataMachineError.isInstance(error) && error.code).toBe('tenant.not_found');
  });
});
