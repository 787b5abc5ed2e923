import type { z } from 'zod';
import type { FetchedItem, StepLogger } from '../steps/step';
import type { HandlerEffectsRecorder, RecordedHandlerEffect, RevertOutcome } from './handler-effect';
import type { HandlerHttpClient } from './http/handler-http-client';

/** What a handler does: a fetch handler yields items, a publish handler sends one out. */
export const handlerKinds = ['fetch', 'publish'] as const;
export type HandlerKind = (typeof handlerKinds)[number];

/** Everything a handler call runs with, handed in by the executor. */
export interface HandlerContext {
  readonly tenantId: string;
  readonly agentId: string;
  readonly flowId: string;
  readonly jobId: string;
  readonly stepKey: string;
  readonly logger: StepLogger;
  /** The value of the handler's secret (see {@link HandlerBase.secretName}), resolved by the host; never stored in a flow. */
  readonly secret?: string;
  /** Aborted when the job is cancelled or the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * The HTTP client handlers reach the network through: the one of the
   * call's tenant (see `createHandlerNetwork`). Without one,
   * a handler uses a client with the defaults: private addresses refused.
   */
  readonly http?: HandlerHttpClient;
  /** Where a publish handler reports each remote effect as it makes it, so the job can be undone; absent: not recorded. */
  readonly effects?: HandlerEffectsRecorder;
}

/** The outcome of {@link HandlerBase.testConnection}: an expected failure is a result, not an exception. */
export type ConnectionTest = { readonly ok: true } | { readonly ok: false; readonly message: string };

/** What every handler declares. */
export interface HandlerBase<Config> {
  /** Stable, portable name pipelines refer to the handler by (`json_items`). */
  readonly slug: string;
  readonly description: string;
  /** Validates a flow's configuration of the handler on write, and again before each call. */
  readonly configSchema: z.ZodType<Config>;
  /** The name of the secret the handler needs (an API key), if any: flows store only this reference. */
  readonly secretName?: string;
  /** Checks that `config` reaches what it names, without side effects. */
  testConnection?(config: Config, context: HandlerContext): Promise<ConnectionTest>;
}

/** A handler a `fetch` step calls: it yields zero or more items. */
export interface FetchHandler<Config = unknown> extends HandlerBase<Config> {
  readonly kind: 'fetch';
  fetch(config: Config, context: HandlerContext): Promise<readonly FetchedItem[]>;
}

/** What a publish handler sends: the step input, and a key stable across retries of the same job and step. */
export interface PublishRequest {
  readonly body: unknown;
  readonly idempotencyKey: string;
  /**
   * Set by `upsert` steps: the job item's source key. A handler that upserts
   * maps it to the remote object it made, so the same item updates that
   * object in every later job instead of creating another. Without it a
   * publish creates at most one object per idempotency key.
   */
  readonly itemKey?: string;
}

/** Where a publish landed; `created` is false when a retry found what an earlier attempt published. */
export interface PublishResult {
  readonly id: string;
  readonly created: boolean;
  readonly url?: string;
}

/** A handler a `publish` or `upsert` step calls: it sends one input out, at most once per idempotency key. */
export interface PublishHandler<Config = unknown> extends HandlerBase<Config> {
  readonly kind: 'publish';
  /**
   * What `publish` accepts as `body`, a JSON object: an `ai` step offers the
   * handler to the model as a tool with these parameters. Absent: any JSON object.
   */
  readonly bodySchema?: z.ZodType<Readonly<Record<string, unknown>>>;
  publish(request: PublishRequest, config: Config, context: HandlerContext): Promise<PublishResult>;
  /**
   * Reverses one effect this handler recorded (an undo calls it newest
   * first), with the step's current configuration and secret. It compares the
   * remote state with the effect's `after` and answers `skipped` when someone
   * changed it since; remote failures are `failed`, not exceptions. Absent:
   * the handler's effects are reported `skipped` / `not_reversible`.
   */
  revert?(effect: RecordedHandlerEffect, config: Config, context: HandlerContext): Promise<RevertOutcome>;
}

/** Any handler. */
export type Handler = FetchHandler | PublishHandler;
