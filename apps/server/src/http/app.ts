import { randomBytes } from 'node:crypto';
import type { MigrationSet } from '@data-machine/agents-api/postgres';
import type { Writable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { ServerConfig } from '../config/config';
import type { AppDatabase, AppJobEngine } from './app-database';
import { migrationSets as allMigrationSets } from '../database/migrate';
import { toErrorResponse } from './error-response';
import { createDataMachineContext, createHandlerNetwork, createHandlerSecrets, createSecretBox, defaultFileMaxBytes, defaultWebhookMaxBytes, handlerSecretsPurpose, readAutomationMetrics, webhookSecretsPurpose, type DataMachineContext, type HandlerRegistry } from 'data-machine';
import type { InboundLimits } from '../config/config';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { registerHealthRoutes } from './health-route';
import { registerOpenApi } from './openapi';
import { registerAgentRoutes } from './routes/agent-routes';
import { registerTenantRoutes } from './routes/tenant-routes';
import { registerTokenRoutes } from './routes/token-routes';
import { registerSecretRoutes } from './routes/secret-routes';
import { registerMemoryRoutes } from './routes/memory-routes';
import { registerPipelineRoutes } from './routes/pipeline-routes';
import { registerFlowRoutes } from './routes/flow-routes';
import { registerStepTestRoutes } from './routes/step-test-routes';
import { registerJobRoutes } from './routes/job-routes';
import { registerRunRoutes } from './routes/run-routes';
import { registerApprovalRoutes } from './routes/approval-routes';
import { registerUndoRoutes } from './routes/undo-routes';
import { registerHandlerRoutes } from './routes/handler-routes';
import { registerScheduleRoutes } from './routes/schedule-routes';
import { registerTemplateRoutes } from './routes/template-routes';
import { registerFileRoutes } from './routes/file-routes';
import { registerWebhookRoutes } from './routes/webhook-routes';
import { defaultRateLimit, registerRateLimit, type RateLimitOptions } from './rate-limit';
import { registerMetrics } from './metrics';
import { redactedPaths, registerRequestLogging, requestLoggingOptions } from './request-logging';
import { createPostgresMemoryStore, createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import type { ChatOptions } from '../chat/chat-service';
import { createChatService } from '../chat/chat-service';
import { registerChatRoutes } from './routes/chat-routes';
import { isOpenAIPath, registerOpenAIRoutes, toOpenAIError } from './routes/openai-routes';
import { registerConsoleSessionRoutes, registerConsoleSessions, type ConsoleSessionOptions } from './console-sessions';
import { registerConsoleAssets } from './console-assets';
import { registerAccessCacheInvalidation } from './authentication';

export type { AppDatabase, AppJobEngine } from './app-database';

/** What the HTTP app is built from. */
export interface AppDependencies {
  readonly database: AppDatabase;
  /** The job engine runs and retries go to; without one those routes answer 503 `engine.unavailable`. */
  readonly jobEngine?: AppJobEngine;
  readonly logLevel?: ServerConfig['logLevel'];
  /** The migrations `/ready` requires; every package's by default. */
  readonly migrationSets?: readonly MigrationSet[];
  /** Where log lines go; standard output by default. */
  readonly logStream?: Writable;
  /** The product's context; by default one on `database`, logging denials through the app's logger. */
  readonly context?: DataMachineContext;
  /** The handlers pipelines may name; the built-in ones by default. */
  readonly handlers?: HandlerRegistry;
  /** Requests per window and token (or client address); {@link defaultRateLimit} by default. */
  readonly rateLimit?: RateLimitOptions;
  /** The model chat turns run on (see `createChatModelProvider`); without it chat turns and `/v1/chat/completions` answer 503 `model.not_configured`. */
  readonly chat?: ChatOptions;
  /** The server's secret key (`SECRET_KEY`, or the data directory's): seals handler secrets and flows' webhook secrets, and signs approval links. Default: a random key for this app alone (tests). */
  readonly secretKey?: string;
  /** Whether every tenant's handlers (a step's connection test) may reach private addresses, whatever the tenant's own setting; default false. */
  readonly handlersAllowPrivateAddresses?: boolean;
  /** Body caps of webhook deliveries and uploaded files; the product's defaults otherwise. */
  readonly inbound?: InboundLimits;
  /** The web console: cookie sign-in and, with `assetsDir`, its built files at `/`; without it, neither. */
  readonly console?: ConsoleOptions;
}

/** What the web console is served with. */
export interface ConsoleOptions extends ConsoleSessionOptions {
  /** The console's built files (`apps/console/dist`); absent or missing on disk: the API only. */
  readonly assetsDir?: string;
}

/** The largest request body accepted (1 MiB); a larger one is 413 `request.too_large`. */
export const bodyLimit = 1_048_576;

/**
 * Builds the HTTP app with every route and the single error handler. Does
 * not listen: tests call `inject`, `main` calls `listen`.
 */
export function buildApp({
  database,
  jobEngine,
  logLevel = 'silent',
  migrationSets = allMigrationSets,
  logStream,
  context,
  handlers,
  rateLimit = defaultRateLimit,
  chat,
  console: consoleOptions,
  handlersAllowPrivateAddresses = false,
  secretKey = randomBytes(32).toString('base64url'),
  inbound = { webhookMaxBytes: defaultWebhookMaxBytes, fileMaxBytes: defaultFileMaxBytes },
}: AppDependencies): FastifyInstance {
  const app = Fastify({
    logger: { level: logLevel, redact: { paths: redactedPaths, censor: '[redacted]' }, ...(logStream ? { stream: logStream } : {}) },
    ...requestLoggingOptions(),
    bodyLimit,
    // Longer than any reference a route accepts (200), so a long one is a 400 naming the field; beyond, 414.
    routerOptions: { maxParamLength: 256 },
    // A URL the router cannot read (bad percent-encoding, an over-long segment) answers in the one error shape too.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const response = toErrorResponse(error);
      void reply.code(response.status).send(isOpenAIPath(request.url) ? toOpenAIError(response) : response.body);
    },
  });
  acceptEmptyJsonBodies(app);
  registerRequestLogging(app);
  const product = context ?? createDataMachineContext({ db: database.db, logger: { warn: (entry, message) => app.log.warn(entry, message) } });
  registerAccessCacheInvalidation(app, product);
  registerMetrics(app, { automation: { read: (window) => readAutomationMetrics(product, window) } });
  app.setErrorHandler((error, request, reply) => {
    const response = toErrorResponse(error);
    if (response.unexpected) request.log.error({ err: error }, 'request failed');
    return reply.code(response.status).send(response.body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'route.not_found', message: `No route for ${request.method} ${request.url}` } }),
  );
  registerOpenApi(app);
  registerHealthRoutes(app, database, migrationSets, jobEngine);
  const handlerRegistry = handlers ?? createDefaultHandlers(product);
  if (consoleOptions) {
    registerConsoleSessions(app, product, consoleOptions);
    if (consoleOptions.assetsDir !== undefined) registerConsoleAssets(app, consoleOptions.assetsDir);
  }
  // Registered as a plugin so the OpenAPI document and the rate limit, loaded first, see every route.
  void app.register(async (api) => {
    await registerRateLimit(api, product, rateLimit);
    if (consoleOptions) registerConsoleSessionRoutes(api, product, consoleOptions);
    registerTenantRoutes(api, product);
    registerAgentRoutes(api, product);
    registerTokenRoutes(api, product);
    registerSecretRoutes(api, product, createSecretBox(secretKey, handlerSecretsPurpose));
    // The files are saved in the product's own transaction, in the table the store below reads for chat turns.
    registerMemoryRoutes(api, product);
    registerHandlerRoutes(api, product, handlerRegistry);
    registerTemplateRoutes(api, product);
    registerScheduleRoutes(api, product);
    registerPipelineRoutes(api, product, handlerRegistry);
    registerFlowRoutes(api, product, handlerRegistry);
    const handlerHttp = createHandlerNetwork({ allowPrivateAddressesForEveryTenant: handlersAllowPrivateAddresses });
    api.addHook('onClose', () => handlerHttp.close());
    registerStepTestRoutes(api, product, {
      handlers: handlerRegistry,
      http: handlerHttp,
      secrets: createHandlerSecrets(product, createSecretBox(secretKey, handlerSecretsPurpose)),
    });
    registerJobRoutes(api, product);
    registerRunRoutes(api, product, jobEngine?.engine);
    registerApprovalRoutes(api, product, { engine: jobEngine?.engine, secretKey });
    registerUndoRoutes(api, product, jobEngine?.engine);
    await registerFileRoutes(api, product, inbound.fileMaxBytes);
    await registerWebhookRoutes(api, { context: product, secrets: createSecretBox(secretKey, webhookSecretsPurpose), engine: jobEngine?.engine, maxBytes: inbound.webhookMaxBytes });
    // Always served: without a model a turn is 503 `model.not_configured`, stored sessions stay readable.
    const store = createPostgresTranscriptStore({ db: database.db, now: () => product.now() });
    const memory = createPostgresMemoryStore({ db: database.db, now: () => product.now() });
    const service = createChatService({ context: product, store, model: chat, memory, onTurnEnd: chat?.onTurnEnd, engine: jobEngine?.engine });
    registerChatRoutes(api, product, { service, store });
    await registerOpenAIRoutes(api, product, service);
  });
  return app;
}

/**
 * A JSON content type with no body is no body: clients that set the header on every request send
 * it on the POSTs that take none (run, accept, undo), and Fastify's parser would answer them 400.
 * A route whose schema needs a body still refuses the missing one (`body: is required`). Anything
 * else goes to Fastify's own parser, with its prototype-poisoning checks.
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, done);
  });
}
