import { z } from 'zod';
import { handlerSlugSchema } from '../handlers/handler-slug';
import { slugSchema } from '../input';

/**
 * The kinds of step a pipeline is made of. `fetch` calls a fetch handler and
 * yields items; `ai` runs the flow's agent; `publish` and `upsert` call a
 * publish handler; `webhook_gate` makes the job wait for a signed inbound
 * webhook or a timeout.
 */
export const stepTypes = ['fetch', 'ai', 'publish', 'upsert', 'webhook_gate'] as const;
export type StepType = (typeof stepTypes)[number];

/** Step types that call a handler, and the handler kind each needs. */
export const stepHandlerKinds = { fetch: 'fetch', publish: 'publish', upsert: 'publish' } as const satisfies Partial<Record<StepType, 'fetch' | 'publish'>>;
/** A step type that calls a handler. */
export type HandlerStepType = keyof typeof stepHandlerKinds;

/** Whether steps of `type` call a handler (and so must name one). */
export function isHandlerStepType(type: StepType): type is HandlerStepType {
  return type in stepHandlerKinds;
}

/** A JSON object: what step and handler configuration is. */
export const jsonObjectSchema = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof jsonObjectSchema>;

const stepKey = slugSchema.describe('a slug unique in the pipeline; flows, queues and jobs refer to the step by it');
/** Default configuration of a step: for handler steps, the handler configuration every flow starts from. */
const stepConfig = jsonObjectSchema.default({});

/**
 * One step of a pipeline, as stored (JSON) and accepted at the edges:
 * `{ key, type, handler?, config? }`. `fetch`, `publish` and `upsert` name a
 * handler; `ai` and `webhook_gate` have none. The pipelines module checks
 * what one step cannot: unique keys, known handlers of the right kind, order.
 */
export const pipelineStepSchema = z.discriminatedUnion('type', [
  z.strictObject({ key: stepKey, type: z.literal('fetch'), handler: handlerSlugSchema, config: stepConfig }),
  z.strictObject({ key: stepKey, type: z.literal('ai'), config: stepConfig }),
  z.strictObject({ key: stepKey, type: z.literal('publish'), handler: handlerSlugSchema, config: stepConfig }),
  z.strictObject({ key: stepKey, type: z.literal('upsert'), handler: handlerSlugSchema, config: stepConfig }),
  z.strictObject({ key: stepKey, type: z.literal('webhook_gate'), config: stepConfig }),
]);
/** One step of a pipeline (see {@link pipelineStepSchema}). */
export type PipelineStep = z.infer<typeof pipelineStepSchema>;
/** A step as written, before defaults. */
export type PipelineStepInput = z.input<typeof pipelineStepSchema>;

/** The most steps a pipeline may have. */
export const maxPipelineSteps = 32;

/** A pipeline's ordered steps: one to {@link maxPipelineSteps}. */
export const pipelineStepsSchema = z.array(pipelineStepSchema).min(1).max(maxPipelineSteps);

/** An item a fetch yields: its source key (what de-duplication keys on) and its data. */
export interface FetchedItem {
  readonly sourceKey: string;
  readonly data: unknown;
}

/** The signal wait a job is in (or, on the run a timeout wakes, was in): its step, signal, wake-up id and deadline. */
export const signalWaitSchema = z.object({ step: z.string(), signal: z.string(), id: z.string(), until: z.iso.datetime().optional() });
export type SignalWait = z.infer<typeof signalWaitSchema>;

/** A released signal wait: the step runs again with this payload. */
export const releasedSignalSchema = z.object({ step: z.string(), signal: z.string(), payload: z.unknown() });
export type ReleasedSignal = z.infer<typeof releasedSignalSchema>;

/**
 * A job's engine data: the item it runs on (a child of a fan-out), each
 * completed step's output by step key, and the signal wait it is in or was
 * released from.
 */
export const engineDataSchema = z.object({
  item: z.object({ sourceKey: z.string(), data: z.unknown() }).optional(),
  outputs: z.record(z.string(), z.unknown()).default({}),
  waiting: signalWaitSchema.optional(),
  released: releasedSignalSchema.optional(),
});
export type EngineData = z.infer<typeof engineDataSchema>;

/**
 * What a step returns: an output the next step reads, items to fan out
 * (a fetch), or a wait. A timed wait (`until` alone) pauses the job in
 * `waiting` and then goes on to the next step with a null output. A signal
 * wait (`signal`, optionally `until` as a deadline) pauses it until
 * `signalJob` releases it or the deadline passes; either way the same step
 * runs again, with {@link StepContext.released} or
 * {@link StepContext.wait} telling it which.
 */
export type StepResult =
  | { readonly kind: 'output'; readonly output: unknown }
  | { readonly kind: 'items'; readonly items: readonly FetchedItem[] }
  | { readonly kind: 'wait'; readonly until: Date; readonly signal?: undefined }
  | { readonly kind: 'wait'; readonly signal: string; readonly until?: Date };

/** A side effect a step performed, recorded under a key stable across retries of the same job and step. */
export interface RecordedEffect {
  readonly key: string;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * Where a step records its side effects, so a retried or re-delivered job
 * finds what it already did instead of doing it again.
 */
export interface EffectsRecorder {
  /** The effect recorded under `key` by an earlier attempt, if any. */
  find(key: string): Promise<RecordedEffect | undefined>;
  /** Records an effect; recording the same key twice keeps the first. */
  record(effect: RecordedEffect): Promise<void>;
  /** Replaces top-level fields of a recorded effect's detail (a handler effect's state after a later write). */
  merge?(key: string, detail: Readonly<Record<string, unknown>>): Promise<void>;
}

/** Where a step logs; lines go to the job's log and the process log. pino's `(object, message)` order. */
export interface StepLogger {
  debug(context: Readonly<Record<string, unknown>>, message: string): void;
  info(context: Readonly<Record<string, unknown>>, message: string): void;
  warn(context: Readonly<Record<string, unknown>>, message: string): void;
  error(context: Readonly<Record<string, unknown>>, message: string): void;
}

/** Everything a step runs with, handed in by the executor. */
export interface StepContext {
  readonly tenantId: string;
  readonly agentId: string;
  readonly pipelineId: string;
  readonly flowId: string;
  readonly jobId: string;
  /** The step being run, from the pipeline. */
  readonly step: PipelineStep;
  readonly logger: StepLogger;
  /** The job's engine data as it was when the step started. */
  readonly engineData: Readonly<EngineData>;
  readonly effects: EffectsRecorder;
  /**
   * Whether the job's tenant lets its handlers reach private, loopback and
   * link-local addresses (`Tenant.allowPrivateAddresses`), read with the job
   * when this delivery started. Absent means no.
   */
  readonly allowPrivateAddresses?: boolean;
  /** A handler step's configuration for this run: the pipeline default, the flow's override and any config patch, parsed by the handler's schema. */
  readonly handlerConfig?: unknown;
  /** The prompt queue entry this run took (an `ai` step), or undefined. */
  readonly prompt?: string;
  /** Aborted when the job is cancelled or the worker shuts down: hand it to every long await. */
  readonly signal: AbortSignal;
  /** Set when this step waited for a signal and was released: the signal and its payload. */
  readonly released?: { readonly signal: string; readonly payload: unknown };
  /** Set when this step waited for a signal and its deadline woke it instead (no release came). */
  readonly wait?: { readonly signal: string; readonly until?: Date };
}

/** What a step reads: the previous step's output, or the job's item for the first step after a fetch. */
export interface StepInput {
  readonly value: unknown;
  /** The entry the executor took from the step's prompt queue (an `ai` step's user message), if any. */
  readonly prompt?: string;
}

/**
 * The contract of a step type's implementation. The executor looks the
 * step's type up, runs `execute`, and stores the result in the job.
 *
 * @example
 * const echo: Step = { type: 'publish', async execute(input) { return { kind: 'output', output: input.value }; } };
 */
export interface Step {
  readonly type: StepType;
  /**
   * Whether running the step again after a worker vanished mid-step is safe
   * (its side effects are idempotent). Default false: a re-delivered job
   * that finds such a step started and not finished fails with
   * `step.unsafe_retry` rather than risk doing its side effect twice.
   */
  readonly retrySafe?: boolean;
  execute(input: StepInput, context: StepContext): Promise<StepResult>;
}
