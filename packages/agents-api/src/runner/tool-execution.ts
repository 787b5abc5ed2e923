import type { ToolCall } from '../messages/message';
import { can, ceilingAllows } from '../permissions/can';
import type { Principal } from '../permissions/principal';
import type { AnyToolDefinition, ToolExecutionContext } from '../tools/tool';
import type { ToolExecution } from './conversation-runner';
import { isInputRequest } from './input-request';

/** What executing one call produced. */
export interface ToolCallOutcome {
  readonly execution: ToolExecution;
  readonly truncated?: { readonly originalLength: number; readonly keptLength: number };
  /** Set when the tool asked the user a question instead of answering. */
  readonly question?: string;
}

/** What every call of a run shares. */
export interface ToolCallEnvironment {
  readonly principal: Principal;
  /** The run's signal, which tools get; a function, so that the loop can make it only when asked. */
  readonly signal: () => AbortSignal;
  /** The run's abort race when something can abort it; a tool is then abandoned as soon as the signal fires. */
  readonly abortable: AbortRace | undefined;
  readonly runtimeContext: Readonly<Record<string, unknown>>;
  readonly maxResultChars: number;
  /** The acting user's grants, when the host gave them. */
  readonly granted: readonly string[] | undefined;
}

/** Thrown when the run's signal aborts while a tool runs; the loop ends the run. */
export class RunAborted extends Error {
  constructor() {
    super('run aborted');
    this.name = 'RunAborted';
  }
}

/**
 * Runs one tool call. Every failure (an unknown tool, arguments that are not
 * JSON or fail the tool's schema, an executor that throws) becomes an error
 * tool message for the model: a tool never crashes the run. Only an abort of
 * the run's signal escapes, as {@link RunAborted}.
 */
export async function executeToolCall(
  call: ToolCall,
  tool: AnyToolDefinition | undefined,
  environment: ToolCallEnvironment,
): Promise<ToolCallOutcome> {
  const args = parseArguments(call.arguments);
  const fail = (content: string): ToolCallOutcome => ({
    execution: { toolCallId: call.id, toolName: call.name, arguments: args.value, outcome: 'error', content },
  });
  if (!tool) return fail(`Error: there is no tool named "${call.name}".`);
  if (tool.clientSide) return fail(`Error: "${call.name}" runs on the client and cannot be run here.`);
  const { capability } = tool;
  if (capability !== undefined && !isPermitted(environment, capability)) {
    return {
      execution: {
        toolCallId: call.id,
        toolName: call.name,
        arguments: args.value,
        outcome: 'rejected',
        content: `Not permitted: "${call.name}" needs the capability "${capability}", which this acting context does not have.`,
      },
    };
  }
  if (!args.ok) return fail(`Error: the arguments for "${call.name}" are not valid JSON.`);
  const input = tool.input.safeParse(args.value);
  if (!input.success) {
    const problems = input.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`).join('; ');
    return fail(`Error: invalid arguments for "${call.name}": ${problems}`);
  }
  let output: unknown;
  try {
    const context = new ToolCallContext(call.id, environment);
    // A synchronous throw lands in the catch below, as a rejection would.
    const returned: unknown = tool.execute(input.data, context);
    if (isThenable(returned)) output = await (environment.abortable ? environment.abortable.race(returned) : returned);
    else if (environment.abortable?.aborted) throw new RunAborted();
    else output = returned;
  } catch (error) {
    if (error instanceof RunAborted) throw error;
    return fail(`Error: "${call.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (isInputRequest(output)) {
    return {
      execution: { toolCallId: call.id, toolName: call.name, arguments: args.value, outcome: 'success', content: `Asked the user: ${output.question}` },
      question: output.question,
    };
  }
  const full = stringifyOutput(output);
  // The tool ran: its side effects happened. A result that cannot be sent is
  // still answered, so the call is recorded as done and never run again on resume.
  if (typeof full !== 'string') return fail(`Error: "${call.name}" ran, but its result cannot be sent to the model: ${full.problem}.`);
  const kept = truncate(full, environment.maxResultChars);
  return {
    execution: { toolCallId: call.id, toolName: call.name, arguments: args.value, outcome: 'success', content: kept },
    ...(kept === full ? {} : { truncated: { originalLength: full.length, keptLength: kept.length } }),
  };
}

/**
 * What an executor gets: a class with plain fields, so that every context has
 * one shape and a spread copy (`{ ...context }`) keeps the signal. The run's
 * signal always exists (every run has a wall clock), so taking it here costs
 * no AbortController. (A getter in an object literal would give every object
 * its own hidden class, which keeps each run reachable until the next full
 * garbage collection.)
 */
class ToolCallContext implements ToolExecutionContext {
  readonly principal: Principal;
  readonly signal: AbortSignal;
  readonly toolCallId: string;
  readonly runtimeContext: Readonly<Record<string, unknown>>;

  constructor(toolCallId: string, environment: ToolCallEnvironment) {
    this.principal = environment.principal;
    this.signal = environment.signal();
    this.toolCallId = toolCallId;
    this.runtimeContext = environment.runtimeContext;
  }
}

/** The ceiling always applies; the grants only when the host passed them. */
function isPermitted(environment: ToolCallEnvironment, capability: string): boolean {
  const { principal, granted } = environment;
  return granted === undefined ? ceilingAllows(principal.ceiling, capability) : can(principal, capability, granted);
}

function parseArguments(text: string): { ok: true; value: unknown } | { ok: false; value: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, value: text };
  }
}

/** The result as text, or what keeps it from being sent: JSON cannot hold it, or it is code. */
function stringifyOutput(output: unknown): string | { readonly problem: string } {
  if (typeof output === 'string') return output;
  if (output === undefined) return '';
  // Never `String(output)`: for a function that is its source text.
  if (typeof output === 'function') return { problem: 'it is a function' };
  if (typeof output === 'symbol') return { problem: 'it is a symbol' };
  try {
    return JSON.stringify(output) ?? { problem: 'it has no JSON form' };
  } catch (error) {
    // A BigInt, a circular object, or a toJSON that throws.
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Cuts `text` to at most `limit` characters, ending with a note of how many
 * were cut when the note fits; the count is exact. A surrogate pair is never
 * split, so the kept text is valid UTF-16.
 */
export function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let kept = Math.max(0, limit - truncationNote(text.length - limit).length);
  // The note's length depends on the count, which depends on the note: settle it.
  while (kept > 0 && kept + truncationNote(text.length - kept).length > limit) kept -= 1;
  if (kept > 0 && isHighSurrogate(text.charCodeAt(kept - 1))) kept -= 1;
  const note = truncationNote(text.length - kept);
  if (kept + note.length <= limit) return text.slice(0, kept) + note;
  // Too small a limit for any note: the limit wins.
  let cut = limit;
  if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  return text.slice(0, cut);
}

function truncationNote(cutCharacters: number): string {
  return `\n[truncated ${cutCharacters} more characters]`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * A run's race against its signal: {@link AbortRace.race} settles as its work
 * does, or rejects with {@link RunAborted} as soon as the signal aborts, so a
 * model call or a tool that ignores the signal cannot hold the run. One
 * listener per run, added on first use and never removed: the signal is the
 * run's own (its wall clock's), so both go when the run does. A listener and
 * a promise per call, added and removed again, cost about 80 µs of a two-turn
 * run in place (see docs/decisions/2026-11-23-loop-cost-on-node-20.md).
 */
export class AbortRace {
  readonly #signal: AbortSignal;
  /** Rejects when the signal aborts; made on the first race. */
  #aborted: Promise<never> | undefined;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  get aborted(): boolean {
    return this.#signal.aborted;
  }

  /** What `work` settles to, unless the signal has aborted or aborts first. */
  race<T>(work: PromiseLike<T>): Promise<T> {
    if (this.#signal.aborted) return Promise.reject(new RunAborted());
    this.#aborted ??= rejectOnAbort(this.#signal);
    return Promise.race([work, this.#aborted]);
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(new RunAborted()), { once: true });
  });
  // Most runs end without an abort; one that aborts after its last race has nobody waiting.
  aborted.catch(ignore);
  return aborted;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function ignore(): void {}
