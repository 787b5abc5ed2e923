import type { DataMachineContext } from '../context';
import { claimDueFlows, scheduleIdempotencyKey, settleClaim, tenantsWithDueFlows, type ClaimedFlow } from './due-flows';
import { tickAfter } from './next-run';
import { acquireSchedulerLease, claimSystemTask, releaseSchedulerLease } from './scheduler-state';
import type { SchedulerLogger, SystemTask } from './system-task';

/**
 * What the scheduler asks the engine to start: one run of a flow for one
 * tick. `tenantId` and `agentId` are the flow's own, read inside its tenant;
 * the starter must start the run there and nowhere else.
 */
export interface FlowRunRequest {
  readonly tenantId: string;
  readonly agentId: string;
  readonly flowId: string;
  readonly source: 'schedule';
  /** `schedule:<flowId>:<tick ISO>`: starting the same tick twice must return the first run. */
  readonly idempotencyKey: string;
  readonly scheduledFor: Date;
}

/** Starts a flow run (the engine writes the job row and enqueues it); idempotent per `idempotencyKey`. */
export type FlowRunStarter = (request: FlowRunRequest) => Promise<{ readonly jobId: string }>;

/** Options of {@link createScheduler}. */
export interface SchedulerOptions {
  readonly context: DataMachineContext;
  readonly starter: FlowRunStarter;
  readonly logger: SchedulerLogger;
  /** This process, as the lease names it; default a random id. */
  readonly holder?: string;
  /** Time between ticks of {@link Scheduler.start}; default 5 seconds. */
  readonly tickMs?: number;
  /** How long a lease outlives the tick that took it; default 30 seconds. */
  readonly leaseMs?: number;
  /** How long a claimed tick stays hidden from other schedulers before it is tried again; default 60 seconds. */
  readonly claimMs?: number;
  /** Flows claimed per tenant per batch; default 100. */
  readonly batchSize?: number;
  /** At most this many flows settled per tick; the next tick goes on. Default 1,000. */
  readonly maxFlowsPerTick?: number;
  /** Recurring system work run from the tick (retention). */
  readonly systemTasks?: readonly SystemTask[];
}

/** What one tick did. */
export interface TickReport {
  /** Whether this scheduler held the lease; a tick without it does nothing. */
  readonly leader: boolean;
  /** Runs started. */
  readonly started: number;
  /** Ticks recorded as `skipped` jobs (`already_running`). */
  readonly skipped: number;
  /** Missed ticks moved past without a run (catch-up `none`). */
  readonly dropped: number;
  /** Ticks whose start failed; their claims run out and they are tried again. */
  readonly failed: number;
  /** System tasks that ran. */
  readonly tasks: readonly string[];
}

/** One scheduler process: {@link Scheduler.tick} runs one pass; `start` runs it every `tickMs`. */
export interface Scheduler {
  /** One pass at `now` (default `context.now()`): take the lease, start due flows, run due system tasks. */
  tick(now?: Date): Promise<TickReport>;
  start(): void;
  /** Stops ticking, waits for a running tick, and gives the lease up. */
  stop(): Promise<void>;
}

/** The name of the lease only one scheduler holds at a time. */
export const schedulerLeaseName = 'scheduler';

/** What a due tick becomes: a run (or a skip when too many run), or a move past it without one. */
export interface TickPlan {
  readonly run: boolean;
  readonly next: Date | null;
}

/**
 * What the scheduler does with a flow's due `tick` at `now`. On time (the
 * following tick is still ahead): run. Missed (the following tick has passed
 * too, e.g. no scheduler ran): one catch-up run with catch-up `once`, none
 * with `none`; either way the next run is the first tick after `now`, so
 * missed ticks are never replayed one by one. A `one_time` runs and clears.
 */
export function planTick(claim: Pick<ClaimedFlow, 'flowId' | 'schedule' | 'tick'>, now: Date): TickPlan {
  const { schedule, flowId, tick } = claim;
  switch (schedule.kind) {
    case 'manual':
      return { run: false, next: null };
    case 'one_time':
      return { run: true, next: null };
    case 'interval':
    case 'cron': {
      const following = tickAfter(schedule, flowId, tick);
      if (following !== null && following.getTime() > now.getTime()) return { run: true, next: following };
      return { run: schedule.catchUp === 'once', next: tickAfter(schedule, flowId, now) };
    }
  }
}

/**
 * Creates the scheduler: acting as the system, it starts each due flow
 * inside the flow's own tenant and agent through `starter`, once per tick.
 * Only the holder of the scheduler lease ticks; due flows are claimed with
 * `FOR UPDATE SKIP LOCKED` in capped batches, and each run's idempotency key
 * is its tick, so two schedulers racing never start a tick twice. A run
 * while the flow already has `concurrency` live jobs is recorded as a
 * `skipped` job with reason `already_running`.
 *
 * @example
 * const scheduler = createScheduler({ context, starter: (request) => startFlowRun(engine, request), logger, systemTasks: [createRetentionTask()] });
 * scheduler.start();
 * // on shutdown
 * await scheduler.stop();
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { context, starter, logger } = options;
  const holder = options.holder ?? context.newId('scheduler');
  const tickMs = options.tickMs ?? 5_000;
  const settings = {
    leaseMs: options.leaseMs ?? 30_000,
    claimMs: options.claimMs ?? 60_000,
    batchSize: options.batchSize ?? 100,
    maxFlows: options.maxFlowsPerTick ?? 1_000,
  };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;

  async function tick(now: Date = context.now()): Promise<TickReport> {
    const leader = await acquireSchedulerLease(context, schedulerLeaseName, holder, now, new Date(now.getTime() + settings.leaseMs));
    if (!leader) return { leader, started: 0, skipped: 0, dropped: 0, failed: 0, tasks: [] };
    const counts = await runDueFlows(now);
    const tasks = await runSystemTasks(now);
    return { leader, ...counts, tasks };
  }

  async function runDueFlows(now: Date) {
    const counts = { started: 0, skipped: 0, dropped: 0, failed: 0 };
    const claimUntil = new Date(now.getTime() + settings.claimMs);
    let budget = settings.maxFlows;
    while (budget > 0) {
      const tenants = await tenantsWithDueFlows(context, now, settings.batchSize);
      let claimedAny = false;
      for (const tenantId of tenants) {
        if (budget <= 0) break;
        const claims = await claimDueFlows(context, tenantId, now, claimUntil, Math.min(settings.batchSize, budget));
        budget -= claims.length;
        claimedAny ||= claims.length > 0;
        for (const claim of claims) counts[await runClaim(claim, now)] += 1;
      }
      // Nothing left that this scheduler may claim (the rest is another's, or failed and waits out its claim).
      if (!claimedAny) break;
    }
    return counts;
  }

  async function runClaim(claim: ClaimedFlow, now: Date): Promise<'started' | 'skipped' | 'dropped' | 'failed'> {
    const plan = planTick(claim, now);
    const idempotencyKey = scheduleIdempotencyKey(claim.flowId, claim.tick);
    try {
      if (!plan.run) {
        await settleClaim(context, claim, { next: plan.next });
        return 'dropped';
      }
      if (claim.liveJobs >= claim.concurrency) {
        await settleClaim(context, claim, { next: plan.next, skipped: { reason: 'already_running', idempotencyKey } });
        return 'skipped';
      }
      await starter({ tenantId: claim.tenantId, agentId: claim.agentId, flowId: claim.flowId, source: 'schedule', idempotencyKey, scheduledFor: claim.tick });
      await settleClaim(context, claim, { next: plan.next });
      return 'started';
    } catch (error) {
      // The claim stays until it runs out; then the same tick (same key) is tried again.
      logger.error({ flowId: claim.flowId, tenantId: claim.tenantId, tick: claim.tick.toISOString(), error }, 'scheduler could not start a flow run');
      return 'failed';
    }
  }

  async function runSystemTasks(now: Date): Promise<string[]> {
    const ran: string[] = [];
    for (const task of options.systemTasks ?? []) {
      if (!(await claimSystemTask(context, task.name, now, new Date(now.getTime() + task.everyMs)))) continue;
      try {
        await task.run({ ...context, now: () => now }, logger);
        ran.push(task.name);
      } catch (error) {
        logger.error({ task: task.name, error }, 'scheduler system task failed');
      }
    }
    return ran;
  }

  function loop(): void {
    if (stopped) return;
    running = tick()
      .catch((error: unknown) => logger.error({ error }, 'scheduler tick failed'))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, tickMs);
      });
  }

  return {
    tick,
    start() {
      if (!stopped) return;
      stopped = false;
      loop();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
      await releaseSchedulerLease(context, schedulerLeaseName, holder);
    },
  };
}
