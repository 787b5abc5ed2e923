import { AgentsApiError, isRetryableCode } from '../errors';
import type { ConversationResult, TranscriptPersister } from '../runner/conversation-runner';
import { leaseLost, sessionLocked, type SessionOwner, type TranscriptStore } from '../transcripts/transcript-store';

/** The default lease of a session run: short, so a crashed run frees its session within seconds. */
export const defaultLeaseTtlMs = 15_000;

/** A session's lock, held by one run and renewed while it lives. */
export interface SessionLease {
  readonly sessionId: string;
  /** Fences every write of the run: see `AppendOptions.lockToken`. */
  readonly token: string;
  /** Aborts when the lease is lost; hand it to the run so it stops within one step. */
  readonly signal: AbortSignal;
  /** Whether the lease was lost (a renewal or a fenced write was refused). */
  readonly lost: boolean;
  /** Marks the lease lost and aborts {@link signal}; called by the fenced persister on `transcript.lease_lost`. */
  markLost(): void;
}

/** Options of {@link takeLease} and {@link holdLease}. */
export interface SessionLeaseOptions {
  /** How long each acquisition or renewal holds the lock. */
  readonly ttlMs: number;
  /** How often the lease is renewed; default a third of `ttlMs`, so two renewals may fail before it lapses. */
  readonly renewEveryMs?: number;
}

/** A lease taken and being renewed; `stop` ends the renewals (the caller then releases it, or lets it lapse). */
export interface HeldLease {
  readonly lease: SessionLease;
  stop(): void;
}

/**
 * Keeps a lease that was just granted (by `acquireLock` or `openSession`):
 * renews it on a timer until `stop`; a renewal that is refused aborts
 * `lease.signal`. The timer is `unref()`ed, so it never keeps a process alive.
 */
export function holdLease(
  store: TranscriptStore,
  owner: SessionOwner,
  sessionId: string,
  grant: { readonly token: string; readonly expiresAt: Date },
  options: SessionLeaseOptions,
): HeldLease {
  const controller = new AbortController();
  let lost = false;
  let expiresAt = grant.expiresAt.getTime();
  const lease: SessionLease = {
    sessionId,
    token: grant.token,
    signal: controller.signal,
    get lost() {
      return lost;
    },
    markLost() {
      if (lost) return;
      lost = true;
      controller.abort(leaseLost(sessionId));
    },
  };
  const renewEveryMs = Math.max(1, Math.floor(options.renewEveryMs ?? options.ttlMs / 3));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const renew = async (): Promise<void> => {
    try {
      const renewal = await store.renewLock(owner, sessionId, grant.token, options.ttlMs);
      if (renewal.renewed) expiresAt = renewal.expiresAt.getTime();
      else if (!stopped) lease.markLost();
    } catch {
      // A renewal that failed (a lost connection) is retried on the next tick;
      // only once the lease has run out is it given up. The fenced writes stay safe either way.
      if (Date.now() >= expiresAt) lease.markLost();
    }
    schedule();
  };
  const schedule = (): void => {
    if (stopped || lost) return;
    timer = setTimeout(() => void renew(), renewEveryMs);
    timer.unref();
  };
  schedule();
  return {
    lease,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Acquires the session's lock (or throws `transcript.session_locked`) and holds it; the caller stops and releases it. */
export async function takeLease(store: TranscriptStore, owner: SessionOwner, sessionId: string, options: SessionLeaseOptions): Promise<HeldLease> {
  const acquired = await storeCall(() => store.acquireLock(owner, sessionId, options.ttlMs));
  if (!acquired.acquired) throw sessionLocked(sessionId, acquired.expiresAt);
  return holdLease(store, owner, sessionId, acquired, options);
}

/**
 * The persister of a leased run: every append is fenced by the lease's
 * token, so a run that lost its lease writes nothing more; a refused append
 * marks the lease lost (which aborts the run).
 */
export function createFencedPersister(store: TranscriptStore, owner: SessionOwner, lease: SessionLease): TranscriptPersister {
  const appendOptions = { lockToken: lease.token };
  return {
    persist: async (messages) => {
      try {
        await store.append(owner, lease.sessionId, messages, undefined, appendOptions);
      } catch (error) {
        if (AgentsApiError.isInstance(error) && error.code === 'transcript.lease_lost') lease.markLost();
        throw error;
      }
    },
  };
}

/**
 * The result of a run stopped by losing its lease: `failed` with
 * `transcript.lease_lost`, whatever the loop made of the abort (`cancelled`)
 * or of the refused write (`runner.persist_failed`). Any other ending was
 * written under a valid lease and passes through.
 */
export function withLeaseOutcome(result: ConversationResult, lease: SessionLease): ConversationResult {
  if (!lease.lost || (result.status !== 'cancelled' && result.status !== 'failed')) return result;
  return {
    status: 'failed',
    failure: { code: 'transcript.lease_lost', message: leaseLost(lease.sessionId).message, retryable: isRetryableCode('transcript.lease_lost') },
    messages: result.messages,
    toolExecutions: result.toolExecutions,
    usage: result.usage,
    turns: result.turns,
    finalContent: result.finalContent,
  };
}

/**
 * Typed errors from the store pass through; anything else (a lost
 * connection, a bug in a third-party store) becomes `transcript.store_failed`.
 */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (AgentsApiError.isInstance(error)) throw error;
    throw new AgentsApiError('transcript.store_failed', `The transcript store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
