import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createDataMachineContext, outboxKick, type TenantTransaction } from 'data-machine';
import { configuredChatModel } from '../chat/chat-model-provider';
import type { ServerConfig } from '../config/config';
import { startChangeFedCaching } from '../database/change-feed-listener';
import type { ServerDatabase } from '../database/database';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { buildApp } from '../http/app';
import { redactedPaths } from '../http/request-logging';
import { createEngineRuntime } from './engine-runtime';
import { modes, type Mode } from './modes';
import { createSchedulerRuntime } from './scheduler-runtime';

/**
 * Runs the parts of `mode` on a migrated database until SIGTERM or SIGINT,
 * then stops them in order: the HTTP server stops accepting and drains its
 * requests, the scheduler stops ticking, the workers finish or release their
 * jobs, and the database closes.
 */
export async function runMode(mode: Mode, config: ServerConfig, database: ServerDatabase, secretKey: string): Promise<void> {
  const parts = modes[mode];
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const logger = pino({ level: config.logLevel, redact: { paths: redactedPaths, censor: '[redacted]' } });
  // An outbox event (a new agent's memory scaffold) asks for its dispatch in the transaction that records it.
  const outbox: { kick?: (trx: TenantTransaction) => Promise<void> } = {};
  // Only a process that serves HTTP authenticates bearer tokens and runs chat turns, so only it keeps their reads cached (unless turned off).
  const caching = parts.http && config.changeFedCaches ? startChangeFedCaching(database.changeFeed, logger) : undefined;
  const context = createDataMachineContext({
    db: database.db,
    logger: { warn: (entry, message) => logger.warn(entry, message) },
    onEventRecorded: async (trx) => outbox.kick?.(trx),
    ...(caching === undefined ? {} : { accessCache: caching.accessCache, memoryPromptCache: caching.memoryPromptCache }),
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
  await caching?.close();
  await scheduler?.stop();
  await runtime.stop();
  await database.close();
  logger.info({ mode }, 'data machine stopped');
}

/** The console's built files: `apps/console/dist` beside this server's `dist`, when it was built. */
function consoleAssetsDir(): string | undefined {
  // Relative to the built file: tsup writes this module's chunk into `dist/` beside `main.js`.
  const directory = fileURLToPath(new URL('../../console/dist', import.meta.url));
  return existsSync(directory) ? directory : undefined;
}
