import { onlineManager, type QueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { ApiError } from '../api/api-error';

/**
 * Whether a failed request means the server could not be reached: the fetch
 * itself failed (status 0), or a 5xx came from something in between (a proxy
 * or a restarting server) rather than as the server's own typed error. A 5xx
 * the server answered with a code (`model.not_configured`) is a refusal, shown
 * where it happened, not a lost connection.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  return error.status === 0 || (error.status >= 500 && error.code === 'http.unexpected');
}

/** How the console's connection to the server is doing. */
export interface ConnectionState {
  readonly lost: boolean;
  /** Refetches what is on screen now instead of at the next retry. */
  readonly retryNow: () => void;
}

/**
 * Follows every query and mutation of `queryClient`: a request that fails as
 * a lost connection (or the browser going offline) marks the connection lost,
 * the next request that succeeds marks it back. While lost, the queries on
 * screen are refetched every `retryEveryMs`, so the console recovers by itself
 * once the server answers again.
 */
export function useConnectionState(queryClient: QueryClient, retryEveryMs: number): ConnectionState {
  const [lost, setLost] = useState(() => !onlineManager.isOnline());
  useEffect(() => {
    const follow = (action: { type: string; error?: unknown }) => {
      if ((action.type === 'failed' || action.type === 'error') && isConnectionLoss(action.error)) setLost(true);
      else if (action.type === 'success') setLost(false);
    };
    const unsubscribeQueries = queryClient.getQueryCache().subscribe((event) => {
      if (event.type === 'updated') follow(event.action);
    });
    const unsubscribeMutations = queryClient.getMutationCache().subscribe((event) => {
      if (event?.type === 'updated') follow(event.action);
    });
    const unsubscribeOnline = onlineManager.subscribe((online) => {
      if (!online) setLost(true);
    });
    return () => {
      unsubscribeQueries();
      unsubscribeMutations();
      unsubscribeOnline();
    };
  }, [queryClient]);
  const retryNow = () => void queryClient.refetchQueries({ type: 'active' });
  useEffect(() => {
    if (!lost) return;
    const timer = setInterval(() => void queryClient.refetchQueries({ type: 'active' }), retryEveryMs);
    return () => clearInterval(timer);
  }, [lost, queryClient, retryEveryMs]);
  return { lost, retryNow };
}
