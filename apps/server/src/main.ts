import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AgentsApiError, createAgentRegistry } from '@data-machine/agents-api';
import { createDataMachineContext, createJobEngine, createSecretBox, DataMachineError, outboxKick, type JobEngine, type TenantTransaction } from 'data-machine';
import { adminCommands, findAdminCommand, UsageError } from './cli/admin-commands';
import { runCommandLine } from './cli/command-line';
import { initialiseIfEmpty, type FirstOwner, type Initialised } from './cli/first-start';
import { HttpError } from './http/http-error';
import { ConfigError, loadConfig, type ServerConfig } from './config/config';
import { resolveSecretKey } from './config/secret-key';
import { buildApp } from './http/app';
import { configuredChatModel } from './chat/chat-model-provider';
import { reconcileAtBoot } from './agents/registered-agents-at-boot';
import { migrateAll, migrationStates } from './database/migrate';
import { openDatabase, type ServerDatabase } from './database/database';
import { startAccessCaching } from './database/access-change-listener';
import { createDefaultHandlers } from './handlers/default-handlers';
import { redactedPaths } from './http/request-logging';
import { createEngineRuntime } from './runtime/engine-runtime';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { issueLoginLink } from 'data-machine';
import { loginLinkUrl, loginLinkUsage, runLoginLinkCommand } from './cli/login-link';
import { chatJobEngine, chatUsage, noModelLine, runChatCommand } from './cli/chat-command';
import { createPostgresMemoryStore, createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { renderOpenApiDocument } from './http/openapi-document';
import { createSchedulerRuntime } from './runtime/scheduler-runtime';

/** A failure to start that the operator can act on; printed as one line. */
class StartupError extends Error {}

function describeDatabase(config: ServerConfig): string {
  if (config.database.kind === 'pglite') return `PGlite in ${config.database.dataDir}`;
  const url = new URL(config.database.url);
  return `Postgres at ${url.host}${url.pathname}`;
}

/** The long-running modes: which parts of the server each runs. */
const modes = {
  start: { http: true, workers: true, scheduler: true },
  serve: { http: true, workers: false, scheduler: false },
  worker: { http: false, workers: true, scheduler: false },
  scheduler: { http: false, workers: false, scheduler: true },
} as const;
type Mode = keyof typeof modes;

function isMode(command: string): command is Mode {
  return Object.hasOwn(modes, command);
}

const usage = `Usage: data-machine [start | serve | worker | scheduler | migrate | init | help]
  start      (the default) run migrations, then the HTTP API, the job workers and the
             scheduler in one process; on an empty embedded database it first creates
             a tenant and an owner and prints the owner's token
  serve      run migrations, then only the HTTP API (jobs run in worker processes)
  worker     run migrations, then only the job and outbox workers
  scheduler  run migrations, then only the scheduler (due flows, retention)
  migrate    run migrations and exit
  init       --email <address> [--name <display name>] [--tenant <slug>]
             run migrations, create the first tenant and its owner, print the owner's token
             and a console login link
  ${loginLinkUsage}
  openapi    print the OpenAPI document of the HTTP API (no database needed)
  Every mode stops gracefully on SIGTERM or SIGINT: no new requests nor jobs, in-flight
  ones finish (or their jobs are released), then the database is closed.
Administration (act as --as <email>, --as system or --token <token>; --json on every command):
${adminCommands.map((command) => `  ${command.usage}`).join('\n')}
Chat (streams to stdout; no --json):
  ${chatUsage}
Configuration: environment variables, listed in docs/operations.md.`;

/** Runs the CLI; resolves to the process exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (command === 'openapi') {
    process.stdout.write(`${JSON.stringify(await renderOpenApiDocument(), null, 2)}\n`);
    return 0;
  }
  if (command === 'login-link') {
    const config = loadConfig(process.env);
    try {
      process.stdout.write(runLoginLinkCommand(argv.slice(1), { publicUrl: config.publicUrl, secretKey: await resolveSecretKey(config.secretKey), now: new Date() }));
      return 0;
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      process.stderr.write(`data-machine: ${error.message}\n`);
      return 2;
    }
  }
  if (command === 'chat') return runChat(argv.slice(1));
  const admin = findAdminCommand(argv);
  if (admin) return runAdmin(admin, argv);
  if (!isMode(command) && command !== 'migrate' && command !== 'init') {
    process.stderr.write(`data-machine: unknown command '${command}'. Try 'data-machine help'.\n`);
    return 2;
  }
  const owner = command === 'init' ? initOptions(argv.slice(1)) : undefined;
  if (owner instanceof UsageError) {
    process.stderr.write(`data-machine: ${owner.message}. Try 'data-machine help'.\n`);
    return 2;
  }
  const config = loadConfig(process.env);
  // Resolved before anything else, so a bad key stops the start before the database is touched.
  const secretKey = await resolveSecretKey(config.secretKey);
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
  const context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
  if (owner !== undefined) {
    const initialised = await initialiseIfEmpty(context, owner).finally(() => database.close());
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
  await runMode(isMode(command) ? command : 'start', config, database, secretKey);
  return 0;
}

/**
 * Runs the parts of `mode` until SIGTERM or SIGINT, then stops them in
 * order: the HTTP server stops accepting and drains its requests, the
 * scheduler stops ticking, the workers finish or release their jobs, and
 * the database closes.
 */
async function runMode(mode: Mode, config: ServerConfig, database: ServerDatabase, secretKey: string): Promise<void> {
  const parts = modes[mode];
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const logger = pino({ level: config.logLevel, redact: { paths: redactedPaths, censor: '[redacted]' } });
  // An outbox event (a new agent's memory scaffold) asks for its dispatch in the transaction that records it.
  const outbox: { kick?: (trx: TenantTransaction) => Promise<void> } = {};
  // Only a process that serves HTTP authenticates bearer tokens, so only it keeps their access cached.
  const accessCaching = parts.http ? startAccessCaching(database.accessChanges, logger) : undefined;
  const context = createDataMachineContext({
    db: database.db,
    logger: { warn: (entry, message) => logger.warn(entry, message) },
    onEventRecorded: async (trx) => outbox.kick?.(trx),
    ...(accessCaching === undefined ? {} : { accessCache: accessCaching.cache }),
  });
  const handlers = createDefaultHandlers(context);
  const runtime = createEngineRuntime({
    database,
    context,
    handlers,
    model: config.model,
    secretKey,
    allowPrivateAddresses: config.handlersAllowPrivateAddresses,
    logger,
    // pg-boss maintenance (expiry, archiving) runs where the workers do.
    engine: { supervise: parts.workers },
  });
  outbox.kick = outboxKick(runtime.engine);
  await runtime.start();
  if (parts.workers) await runtime.startWorkers();
  const scheduler = parts.scheduler ? createSchedulerRuntime({ database, context, engine: runtime.engine, logger }) : undefined;
  scheduler?.start();
  const chatModel = configuredChatModel(config.model);
  const app = parts.http
    ? buildApp({
        database,
        context,
        handlers,
        logLevel: config.logLevel,
        rateLimit: config.rateLimit,
        secretKey,
        handlersAllowPrivateAddresses: config.handlersAllowPrivateAddresses,
        inbound: config.inbound,
        jobEngine: { engine: runtime.engine, workersRunning: () => (parts.workers ? runtime.workersRunning : null) },
        ...(chatModel === undefined ? {} : { chat: chatModel }),
        console: {
          secretKey,
          secureCookies: config.publicUrl.startsWith('https:'),
          policy: config.consoleSession,
          assetsDir: consoleAssetsDir(),
        },
      })
    : undefined;
  if (app) {
    const address = await app.listen({ host: config.host, port: config.port });
    logger.info({ url: address, database: config.database.kind, mode }, 'data machine listening');
  } else {
    logger.info({ database: config.database.kind, mode }, 'data machine running');
  }
  const signal = await stopped;
  logger.info({ signal, mode }, 'data machine stopping');
  await app?.close();
  await accessCaching?.close();
  await scheduler?.stop();
  await runtime.stop();
  await database.close();
  logger.info({ mode }, 'data machine stopped');
}

/** Refuses a database the CLI cannot reach or that is not migrated. */
async function ensureMigrated(config: ServerConfig, database: ServerDatabase): Promise<void> {
  if (!(await database.ping())) throw new StartupError(`cannot reach the database (${describeDatabase(config)})`);
  const pending = (await migrationStates(database.db)).filter((state) => state.pending.length > 0);
  if (pending.length > 0) throw new StartupError("the database is not migrated; run 'data-machine migrate' first");
}

/** Runs `chat <agent>` on the configured database and model: stdin to the agent, its text to stdout. */
async function runChat(args: readonly string[]): Promise<number> {
  const config = loadConfig(process.env);
  const model = configuredChatModel(config.model);
  if (model === undefined) {
    // Before the database is opened: nothing to do without a model.
    process.stderr.write(noModelLine);
    return 1;
  }
  const database = await openDatabase(config.database);
  const engine = chatJobEngine(database.engine);
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    await ensureMigrated(config, database);
    const context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    return await runChatCommand({
      context,
      model,
      store: createPostgresTranscriptStore({ db: database.db, now: () => context.now() }),
      memory: createPostgresMemoryStore({ db: database.db }),
      engine,
      argv: args,
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
      signal: stop.signal,
    });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`data-machine: ${error.message}\n`);
    return 2;
  } finally {
    process.off('SIGINT', interrupt);
    await database.close();
  }
}

/** Runs an administration command on the configured database, which must be migrated. */
async function runAdmin(command: NonNullable<ReturnType<typeof findAdminCommand>>, argv: readonly string[]): Promise<number> {
  const config = loadConfig(process.env);
  const database = await openDatabase(config.database);
  // Only `flows run` and `jobs retry` need the engine: it starts on first use.
  const commandJobs = commandEngine(database);
  try {
    await ensureMigrated(config, database);
    const context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    const engine = commandJobs.get;
    // Only `flows webhook rotate` and `secrets set` need the server key: resolved (on the embedded database, generated) on first use.
    const secrets = async (purpose: string) => createSecretBox(await resolveSecretKey(config.secretKey), purpose);
    // Refusals are one line on stderr and exit code 1, usage errors exit code 2; progress shows only at a terminal.
    return (await runCommandLine(context, command, argv, process, { handlers: createDefaultHandlers(context), engine, secrets })).exitCode;
  } finally {
    await commandJobs.stop();
    await database.close();
  }
}

/** A command's job engine: started on first `get`, with no maintenance and no workers; `stop` ends it if it started. */
function commandEngine(database: ServerDatabase): { readonly get: () => Promise<JobEngine>; readonly stop: () => Promise<void> } {
  let started: Promise<JobEngine> | undefined;
  return {
    get: () =>
      (started ??= (async () => {
        const created = createJobEngine({ database: database.engine, supervise: false });
        await created.start();
        return created;
      })()),
    stop: async () => {
      await started?.then((engine) => engine.stop()).catch(() => undefined);
    },
  };
}

function initOptions(args: readonly string[]): FirstOwner | UsageError {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: { email: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (!values.email) return new UsageError('init needs --email <address>');
    const tenant = values.tenant ?? 'default';
    return { email: values.email, displayName: values.name ?? values.email, tenantSlug: tenant, tenantName: tenant };
  } catch (error) {
    return new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
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

/** The console's built files: `apps/console/dist` beside this server's `dist`, when it was built. */
function consoleAssetsDir(): string | undefined {
  const directory = fileURLToPath(new URL('../../console/dist', import.meta.url));
  return existsSync(directory) ? directory : undefined;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // One line for the operator, never a stack trace.
    const known =
      error instanceof ConfigError || error instanceof StartupError || error instanceof HttpError || AgentsApiError.isInstance(error) || DataMachineError.isInstance(error);
    const message = known ? (error as Error).message : `unexpected failure: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`data-machine: ${message}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  },
);
