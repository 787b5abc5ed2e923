import { useQueryClient } from '@tanstack/react-query';
import { useConnectionState } from './connection';

/** How often a lost connection is retried, by default. */
export const reconnectEveryMs = 3000;

/**
 * "Connection lost, retrying" while the server cannot be reached, gone once
 * it answers again. It floats over the page's bottom edge, so showing and
 * hiding it moves nothing; the live region is always there, so a screen
 * reader hears the change.
 */
export function ConnectionBanner({ retryEveryMs = reconnectEveryMs }: { readonly retryEveryMs?: number }) {
  const { lost, retryNow } = useConnectionState(useQueryClient(), retryEveryMs);
  return (
    <div role="status" className="connection-banner" data-lost={lost}>
      {lost && (
        <>
          <span>Connection lost, retrying…</span>{' '}
          <button type="button" className="button button-quiet" onClick={retryNow}>
            Retry now
          </button>
        </>
      )}
    </div>
  );
}
