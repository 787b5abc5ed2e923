/** A run's deadline, as the shared timers hold it. */
export interface Expiring {
  /** When the run's time is up, in `performance.now()` milliseconds. */
  readonly deadline: number;
  /** Called once, when the deadline has passed; never after {@link WallClockTimers.remove}. */
  expire(): void;
}

/**
 * Runs' deadlines on one Node timer per duration, for the whole process: a
 * run adds itself when it starts and removes itself when it ends, a `Set`
 * add and delete, where a timer of its own cost a `Timeout`, the list for its
 * duration (made and dropped again when runs do not overlap) and `unref`'s
 * reference toggling, about 2 % of a two-turn run in place (see
 * docs/decisions/2026-11-23-loop-cost-on-node-20.md, 2026-12-02 section).
 * Process-wide rather than per runner: the session runner makes a runner per
 * run, so only a shared queue lets its runs share a timer.
 *
 * Runs of one duration are queued in start order, which is deadline order
 * (the clock is monotonic). The timer is armed for the earliest deadline and
 * left armed when runs end: when it fires it expires the runs that are due
 * and re-arms for the next, or, with none left, forgets the duration. The
 * timers are unref'd: a run's budget never keeps the process alive.
 *
 * Fake timers: the timer is armed with whatever `setTimeout` is global at the
 * time; a run that starts under a different one (a test that installed or
 * removed fake timers) arms a timer of its own. The run a timer was armed for
 * expires when that timer fires, whatever the clock says, so a test that
 * fakes `setTimeout` but not `performance` still sees it expire.
 */
export class WallClockTimers {
  readonly #queues = new Map<number, DurationQueue>();

  /** Watches `run`, due `durationMs` after its start: `run.deadline` must be `now() + durationMs`. */
  add(durationMs: number, run: Expiring): void {
    let queue = this.#queues.get(durationMs);
    if (queue === undefined) {
      queue = new DurationQueue(durationMs, () => this.#queues.delete(durationMs));
      this.#queues.set(durationMs, queue);
    }
    queue.add(run);
  }

  /** Stops watching `run` (a run that ended); its duration's timer stays armed for the others. */
  remove(durationMs: number, run: Expiring): void {
    this.#queues.get(durationMs)?.runs.delete(run);
  }
}

/**
 * The clock deadlines are read on: monotonic, unlike `Date.now()`. The global
 * `performance`, looked up on each call, so that fake timers that fake it apply.
 */
export function now(): number {
  return performance.now();
}

class DurationQueue {
  /** In start order, so in deadline order. */
  readonly runs = new Set<Expiring>();
  readonly #durationMs: number;
  readonly #forget: () => void;
  /** The `setTimeout` the armed timer came from; undefined when none is armed. */
  #armedWith: typeof setTimeout | undefined;
  /** The run the armed timer is for: due when it fires, by the timer's own clock. */
  #armedFor: Expiring | undefined;

  constructor(durationMs: number, forget: () => void) {
    this.#durationMs = durationMs;
    this.#forget = forget;
  }

  add(run: Expiring): void {
    this.runs.add(run);
    // An armed timer fires no later than this run's deadline: the earliest run's comes first.
    if (this.#armedWith !== globalThis.setTimeout) this.#arm(run, this.#durationMs);
  }

  #arm(run: Expiring, delayMs: number): void {
    const armedWith = globalThis.setTimeout;
    this.#armedWith = armedWith;
    this.#armedFor = run;
    const timer = armedWith(() => this.#fire(armedWith, run), delayMs);
    // A run's budget never keeps a process alive (fake timers may have no `unref`).
    (timer as Partial<NodeJS.Timeout>).unref?.();
  }

  #fire(armedWith: typeof setTimeout, armedFor: Expiring): void {
    // A timer superseded by one from another `setTimeout` (fake timers came or went) expires what is due and re-arms nothing.
    const current = this.#armedWith === armedWith && this.#armedFor === armedFor;
    if (current) this.#armedWith = undefined;
    const at = now();
    // Every run is looked at (a few, and once per deadline): the run the timer was for is due
    // even if the clock, when fakes mix real and fake clocks, says it is early.
    const due = [...this.runs].filter((run) => run === armedFor || run.deadline <= at);
    for (const run of due) this.runs.delete(run);
    // Expired after the queue is settled: aborting a run may end other runs, which remove themselves.
    for (const run of due) run.expire();
    if (!current) return;
    const [next] = this.runs;
    if (next === undefined) this.#forget();
    else this.#arm(next, Math.max(1, Math.ceil(next.deadline - at)));
  }
}
