import { createPostgresMemoryStore, createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import {
  createAgentMemoryProvisioner,
  createAiStep,
  createHandlerNetwork,
  createHandlerSecrets,
  createHandlerSteps,
  createSecretBox,
  handlerSecretsPurpose,
  createWebhookGateStep,
  createJobEngine,
  createJobWorker,
  createOutboxWorker,
  createUndoWorker,
  type DataMachineContext,
  type HandlerNetwork,
  type HandlerSecrets,
  type HandlerRegistry,
  type JobEngine,
  type JobEngineOptions,
  type ProcessLogger,
  type StepRegistry,
} from 'data-machine';
import { configuredChatModel } from '../chat/chat-model-provider';
import type { ServerConfig } from '../config/config';
import type { ServerDatabase } from '../database/database';

/** What {@link createEngineRuntime} builds on. */
export interface EngineRuntimeOptions {
  readonly database: ServerDatabase;
  readonly context: DataMachineContext;
  readonly handlers: HandlerRegistry;
  /** The model endpoint of the `ai` step; without a key nor a base URL the step is not registered (its jobs fail `step.not_registered`). */
  readonly model: ServerConfig['model'];
  readonly logger: ProcessLogger;
  /** The server's secret key: opens the agents' handler secrets handed to handlers. */
  readonly secretKey: string;
  /**
   * Whether every tenant's handlers may reach private addresses (local
   * services), whatever the tenant's own setting; default false: only the
   * tenants the operator allows (`Tenant.allowPrivateAddresses`) may.
   */
  readonly allowPrivateAddresses?: boolean;
  /** pg-boss settings (polling, expiry); the engine's defaults otherwise. */
  readonly engine?: Omit<JobEngineOptions, 'database'>;
  /** How often the worker reconciles lost jobs; default every 60 s. */
  readonly reconcileEveryMs?: number;
  /** How long a stopping worker lets running steps finish; default 30 s. */
  readonly shutdownGraceMs?: number;
}

/** The job engine with its workers, as one process runs them. */
export interface EngineRuntime {
  readonly engine: JobEngine;
  /** Whether the workers run (between a `startWorkers` and a `stop`). */
  readonly workersRunning: boolean;
  /** Starts pg-boss only: enough to enqueue runs (the API, the scheduler). */
  start(): Promise<void>;
  /** Starts the job worker (with the reconciler) and the outbox worker; `start` first. */
  startWorkers(): Promise<void>;
  /** Stops the workers gracefully (running steps finish or are released), then pg-boss. */
  stop(): Promise<void>;
}

/**
 * Builds the job engine on the server's database, the step registry (the
 * handler steps, and the `ai` step over the Postgres transcript store and
 * the OpenAI-compatible provider), the job worker and the outbox worker
 * (which scaffolds a new agent's memory files).
 *
 * @example
 * const runtime = createEngineRuntime({ database, context, handlers, model: config.model, logger });
 * await runtime.start();
 * await runtime.startWorkers();
 */
export function createEngineRuntime(options: EngineRuntimeOptions): EngineRuntime {
  const { database, context, handlers } = options;
  const engine = createJobEngine({ ...options.engine, database: database.engine });
  const http = createHandlerNetwork({ allowPrivateAddressesForEveryTenant: options.allowPrivateAddresses === true });
  const secrets = createHandlerSecrets(context, createSecretBox(options.secretKey, handlerSecretsPurpose));
  const steps: StepRegistry = { ...createHandlerSteps(handlers, { http, secrets }), webhook_gate: createWebhookGateStep(), ...aiStep(options, engine, http, secrets) };
  const worker = createJobWorker({
    context,
    engine,
    handlers,
    steps,
    processLogger: options.logger,
    reconcileEveryMs: options.reconcileEveryMs ?? 60_000,
    ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }),
  });
  // Undos run on their own queue, reverting through the same handlers and tenant's client publishes used.
  const undos = createUndoWorker({ context, engine, handlers, http, secrets, ...(options.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: options.shutdownGraceMs }) });
  const outbox = createOutboxWorker({ context, engine, handlers: [createAgentMemoryProvisioner({ memory: createPostgresMemoryStore({ db: database.db }) })] });
  let started = false;
  let workersRunning = false;
  return {
    engine,
    get workersRunning() {
      return workersRunning;
    },
    async start() {
      await engine.start();
      started = true;
    },
    async startWorkers() {
      await worker.start();
      await undos.start();
      await outbox.start();
      workersRunning = true;
    },
    async stop() {
      if (workersRunning) {
        workersRunning = false;
        await outbox.stop();
        await undos.stop();
        await worker.stop();
      }
      if (started) {
        started = false;
        await engine.stop();
        await http.close();
      }
    },
  };
}

function aiStep(options: EngineRuntimeOptions, engine: JobEngine, http: HandlerNetwork, secrets: HandlerSecrets): StepRegistry {
  const provider = configuredChatModel(options.model)?.provider;
  if (provider === undefined) return {};
  return {
    ai: createAiStep({
      context: options.context,
      transcripts: createPostgresTranscriptStore({ db: options.database.db }),
      memory: createPostgresMemoryStore({ db: options.database.db }),
      provider,
      handlers: options.handlers,
      http,
      secrets,
      jobExpiryMs: engine.options.expireInSeconds * 1000,
    }),
  };
}
