import { AgentsApiError } from '../errors';
import type { ConversationLimits } from './conversation-runner';
import { linkedAbort, type LinkedAbort } from './linked-abort';

/** Limits with every default filled in; `undefined` means unbounded. */
export interface ResolvedLimits {
  readonly maxTurns: number;
  readonly maxToolCalls: number | undefined;
  readonly maxCallsPerTool: number | undefined;
  /** Always set: a run without a wall clock could be held by a hung model or tool for as long as it hangs. */
  readonly timeoutMs: number;
  readonly maxTokens: number | undefined;
  readonly toolConcurrency: number;
  readonly maxToolResultChars: number;
  readonly maxRepeatedFailures: number;
}

/**
 * The defaults of the built-in loop. A run's wall clock defaults to 5
 * minutes: room for ten turns of a slow model with tools, a bound on what a
 * hung model or tool can hold, and below the session runner's 10-minute lock
 * lease (see `docs/decisions/2026-11-30-run-defaults.md`).
 */
export const defaultLimits = {
  maxTurns: 10,
  timeoutMs: 300_000,
  toolConcurrency: 4,
  maxToolResultChars: 16_000,
  maxRepeatedFailures: 3,
} as const;

const defaultResolvedLimits: ResolvedLimits = Object.freeze({
  maxTurns: defaultLimits.maxTurns,
  maxToolCalls: undefined,
  maxCallsPerTool: undefined,
  timeoutMs: defaultLimits.timeoutMs,
  maxTokens: undefined,
  toolConcurrency: defaultLimits.toolConcurrency,
  maxToolResultChars: defaultLimits.maxToolResultChars,
  maxRepeatedFailures: defaultLimits.maxRepeatedFailures,
});

/**
 * The longest wall clock a run may have, 2^31 - 1 ms (about 24.8 days): a
 * timer longer than that fires at once in Node, and `AbortSignal.timeout`
 * throws a RangeError beyond 2^32 - 1.
 */
export const maxTimeoutMs = 2_147_483_647;

/**
 * Fills in defaults and checks every limit is a positive whole number, and
 * `timeoutMs` at most {@link maxTimeoutMs}.
 *
 * @throws AgentsApiError `runner.invalid_request` naming the bad limit.
 */
export function resolveLimits(limits?: ConversationLimits): ResolvedLimits {
  if (limits === undefined) return defaultResolvedLimits;
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1)) {
      throw new AgentsApiError('runner.invalid_request', `Limit ${name} must be a positive whole number (got ${String(value)})`, {
        details: { limit: name },
      });
    }
  }
  if (limits.timeoutMs !== undefined && limits.timeoutMs > maxTimeoutMs) {
    throw new AgentsApiError('runner.invalid_request', `Limit timeoutMs must be at most ${maxTimeoutMs} ms (got ${limits.timeoutMs})`, {
      details: { limit: 'timeoutMs', max: maxTimeoutMs },
    });
  }
  return {
    maxTurns: limits.maxTurns ?? defaultLimits.maxTurns,
    maxToolCalls: limits.maxToolCalls,
    maxCallsPerTool: limits.maxCallsPerTool,
    timeoutMs: limits.timeoutMs ?? defaultLimits.timeoutMs,
    maxTokens: limits.maxTokens,
    toolConcurrency: limits.toolConcurrency ?? defaultLimits.toolConcurrency,
    maxToolResultChars: limits.maxToolResultChars ?? defaultLimits.maxToolResultChars,
    maxRepeatedFailures: limits.maxRepeatedFailures ?? defaultLimits.maxRepeatedFailures,
  };
}

/**
 * A run's wall clock: `signal` aborts (with a `TimeoutError`) when it runs
 * out, or with the reason of the signal it follows when that one aborts
 * first; `expired` says which; `stop` when the run ends.
 */
export interface WallClock {
  readonly signal: AbortSignal;
  /** Whether the clock ran out (rather than the followed signal aborting first). */
  readonly expired: boolean;
  stop(): void;
}

/**
 * Starts a run's wall clock, following the run's own signal if it has one (or
 * on `own`, a controller of the run's that already follows it), so the run
 * has one signal for both (not `AbortSignal.any`, 21 to 31 µs per run
 * on Node 20: see `linkedAbort`). Not `AbortSignal.timeout` either: that one's
 * timer lives on after the run until it fires (minutes, with the default
 * budget), held by a weak reference and a finalization registry the collector
 * must walk; a cleared timer costs nothing once the run is over. See
 * docs/decisions/2026-11-23-loop-cost-on-node-20.md.
 */
export function startWallClock(timeoutMs: number, followed?: AbortSignal, own?: LinkedAbort): WallClock {
  return new RunWallClock(timeoutMs, own ?? linkedAbort(followed), own === undefined);
}

/**
 * A class rather than an object literal with an `expired` getter: a getter in
 * a literal made per run gives every clock its own hidden class, which keeps
 * each run reachable until the next full collection (see the loop-cost note).
 */
class RunWallClock implements WallClock {
  readonly #linked: LinkedAbort;
  /** Whether `stop` unlinks the controller: only one the clock made itself; a given one is unlinked by whoever made it. */
  readonly #ownsLink: boolean;
  readonly #timer: NodeJS.Timeout;
  #expired = false;

  constructor(timeoutMs: number, linked: LinkedAbort, ownsLink: boolean) {
    // A run's stream already made a controller of its own that follows the caller: the clock
    // arms its timer on that one rather than make a third signal per run (see `linkedAbort`).
    this.#linked = linked;
    this.#ownsLink = ownsLink;
    this.#timer = setTimeout(() => this.#runOut(), timeoutMs);
    // A run's budget never keeps a process alive.
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#linked.signal;
  }

  get expired(): boolean {
    return this.#expired;
  }

  stop(): void {
    clearTimeout(this.#timer);
    if (this.#ownsLink) this.#linked.unlink();
  }

  #runOut(): void {
    if (this.#linked.signal.aborted) return;
    this.#expired = true;
    this.#linked.abort(new DOMException('The run ran out of wall-clock time.', 'TimeoutError'));
  }
}
