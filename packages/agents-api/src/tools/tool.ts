import type { z } from 'zod';
import type { Principal } from '../permissions/principal';

/** What a tool's executor is handed besides its validated input. */
export interface ToolExecutionContext {
  /** Who is acting; check ownership against it, never against ambient state. */
  readonly principal: Principal;
  /**
   * Aborted when the run is cancelled or its wall clock runs out; hand it to
   * every long await. One per run, a plain field: a spread copy keeps it.
   */
  readonly signal: AbortSignal;
  readonly toolCallId: string;
  /** The run's runtime context, as the host passed it in the request. */
  readonly runtimeContext: Readonly<Record<string, unknown>>;
}

/**
 * A tool the model may call.
 * - `input` validates the model's arguments and is sent to the model as JSON Schema.
 * - `capability`: the acting context must hold it (see `can`).
 * - `retrySafe`: may run again after a crash without harm (reads, idempotent writes).
 * - `writes`: changes something outside the conversation; an autonomous principal
 *   gets write tools only by explicit opt-in.
 * - `mandatory`: kept by the allow-lists of a policy (a deny still removes it).
 * - `clientSide`: executed by the client, not here; offered only when a policy names it.
 *   The model sees it like any tool; a call of it ends the run as `tool_calls_required`.
 */
export interface ToolDefinition<Input = unknown, Output = unknown> {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<Input>;
  // Method syntax on purpose: it lets a tool of any input sit in a collection of
  // `AnyToolDefinition` without `any` (method parameters are checked bivariantly).
  execute(input: Input, context: ToolExecutionContext): Output | Promise<Output>;
  readonly capability?: string;
  readonly category?: string;
  readonly retrySafe?: boolean;
  readonly writes?: boolean;
  readonly mandatory?: boolean;
  readonly clientSide?: boolean;
}

/** A tool of any input and output, as collections hold them. */
export type AnyToolDefinition = ToolDefinition<unknown, unknown>;

/** Tool names the OpenAI-compatible APIs accept. */
export const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/;
