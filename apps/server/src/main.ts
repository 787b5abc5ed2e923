import { AgentsApiError } from '@data-machine/agents-api';
import { ConfigError, loadConfig, type ServerConfig } from './config/config';
import { resolveSecretKey } from './config/secret-key';
import { buildApp } from './http/app';
import { migrateAll } from './database/migrate';
import { openDatabase } from './database/database';

/** A failure to start that the operator can act on; printed as one line. */
class StartupError extends Error {}

function describeDatabase(config: ServerConfig): string {
  if (config.database.kind === 'pglite') return `PGlite in ${config.database.dataDir}`;
  const url = new URL(config.database.url);
  return `Postgres at ${url.host}${url.pathname}`;
}

const usage = `Usage: data-machine [serve | migrate | help]
  serve    run migrations, then serve HTTP (the default)
  migrate  run migrations and exit
Configuration: environment variables, listed in docs/operations.md.`;

/** Runs the CLI; resolves to the process exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (command !== 'serve' && command !== 'migrate') {
    process.stderr.write(`data-machine: unknown command '${command}'. Try 'data-machine help'.\n`);
    return 2;
  }
  const config = loadConfig(process.env);
  // Resolved before anything else, so a bad key stops the start before the database is touched.
  await resolveSecretKey(config.secretKey);
  const database = await openDatabase(config.database);
  if (!(await database.ping())) {
    await database.close();
    throw new StartupError(`cannot reach the database (${describeDatabase(config)})`);
  }
  try {
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
  const app = buildApp({ database, logLevel: config.logLevel });
  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info({ url: address, database: config.database.kind }, 'data machine listening');
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  await database.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // One line for the operator, never a stack trace.
    const known = error instanceof ConfigError || error instanceof StartupError || AgentsApiError.isInstance(error);
    const message = known ? (error as Error).message : `unexpected failure: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`data-machine: ${message}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  },
);
