import { createAgentRegistry } from '@data-machine/agents-api';
import { createDataMachineContext, issueLoginLink } from 'data-machine';
import { reconcileAtBoot } from '../agents/registered-agents-at-boot';
import { loadConfig, type ServerConfig } from '../config/config';
import { resolveSecretKey } from '../config/secret-key';
import { openDatabase } from '../database/database';
import { migrateAll } from '../database/migrate';
import type { Mode } from '../runtime/modes';
import { ensureReachable } from './configured-database';
import { initialiseIfEmpty, type FirstOwner, type Initialised } from './first-start';
import { loginLinkUrl } from './login-link';

/**
 * Runs `migrate`, `init` (for `owner`) or a long-running mode on the
 * configured database: resolves the secret key, opens and migrates the
 * database, then exits (`migrate`, `init`) or runs the mode until SIGTERM or
 * SIGINT. Resolves to the exit code; start-up failures are thrown.
 */
export async function runServer(command: Mode | 'migrate' | 'init', owner: FirstOwner | undefined): Promise<number> {
  const config = loadConfig(process.env);
  // Resolved before anything else, so a bad key stops the start before the database is touched.
  const secretKey = await resolveSecretKey(config.secretKey);
  const database = await openDatabase(config.database);
  try {
    await ensureReachable(config, database);
    await migrateAll(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  if (command === 'migrate') {
    await database.close();
    process.stdout.write('data-machine: migrations applied\n');
    return 0;
  }
  const context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
  if (command === 'init') {
    const initialised = await initialiseIfEmpty(context, owner as FirstOwner).finally(() => database.close());
    if (!initialised) {
      process.stderr.write('data-machine: already initialised (the database has a tenant)\n');
      return 1;
    }
    printOwnerToken(initialised, ownerLoginLink(config, secretKey, initialised));
    return 0;
  }
  if (config.database.kind === 'pglite') {
    // README command 1 ends with a usable server: the embedded first start makes its owner.
    const initialised = await initialiseIfEmpty(context, { email: 'owner@data-machine.local', displayName: 'Owner', tenantSlug: 'default', tenantName: 'Default' });
    if (initialised) printOwnerToken(initialised, ownerLoginLink(config, secretKey, initialised));
  }
  // The server's registered agents: modules that declare agents add an onInit
  // callback here. Their rows are reconciled into the home tenant before serving.
  const registry = createAgentRegistry();
  await registry.init();
  await reconcileAtBoot(context, { homeTenant: config.homeTenant, registry });
  // The parts (Fastify, the workers, the scheduler, the model client) load only for a mode that runs them.
  const { runMode } = await import('../runtime/run-mode');
  await runMode(command, config, database, secretKey);
  return 0;
}

function printOwnerToken({ tenant, owner, ownerToken }: Initialised, loginLink: string): void {
  process.stdout.write(
    `data-machine: created tenant "${tenant.slug}" owned by ${owner.email}\n` +
      `data-machine: owner token (shown once, keep it): ${ownerToken}\n` +
      `data-machine: console login link (one use, 15 minutes): ${loginLink}\n`,
  );
}

function ownerLoginLink(config: ServerConfig, secretKey: string, { owner }: Initialised): string {
  return loginLinkUrl(config.publicUrl, issueLoginLink({ email: owner.email, secretKey, now: new Date() }).token);
}
