import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import type { paths } from '../api/schema';
import { Button, ErrorNotice, StatusBadge } from '../components/ui';
import { href } from '../router';
import { useRoleRefusal } from './agent-role';
import { endedStatuses, pollMs } from './job-status';

/** An undo of a job, with its report. */
export type Undo = paths['/agents/{agent}/jobs/{job}/undos']['get']['responses'][200]['content']['application/json']['undos'][number];

/** The undos of a job, newest first: one query (one cache entry) for the job's actions, which poll it while an undo runs, and its effects. */
export function undosQuery(client: ApiClient, agent: string, job: string) {
  return { queryKey: ['job-undos', agent, job], queryFn: () => unwrap(client.GET('/agents/{agent}/jobs/{job}/undos', { params: { path: { agent, job } } })) };
}

const retryableStatuses = new Set(['failed', 'cancelled']);

/** An action on a job and whether the job's status allows it (the role is checked apart). */
export interface JobActionRule {
  readonly allowed: boolean;
  readonly reason: string | undefined;
}

/** Retry: only a failed or cancelled job, as a new job. */
export function retryRule(status: string): JobActionRule {
  return retryableStatuses.has(status) ? { allowed: true, reason: undefined } : { allowed: false, reason: 'Only a failed or cancelled job can be retried.' };
}

/** Cancel: only a job that has not ended. */
export function cancelRule(status: string): JobActionRule {
  return endedStatuses.has(status) ? { allowed: false, reason: 'The job has ended.' } : { allowed: true, reason: undefined };
}

/** Undo: only an ended job, and not while an earlier undo of it is still running. */
export function undoRule(status: string, latest: Undo | undefined): JobActionRule {
  if (!endedStatuses.has(status)) return { allowed: false, reason: 'A job can be undone once it has ended.' };
  if (latest !== undefined && (latest.status === 'pending' || latest.status === 'processing')) return { allowed: false, reason: 'An undo of this job is already running.' };
  return { allowed: true, reason: undefined };
}

/**
 * Retry, cancel and undo for one job, each offered only when the caller's
 * role on the agent (operator or above) and the job's status allow it, and
 * disabled with the reason otherwise. The server checks again.
 */
export function JobActions({ client, agent, job, status }: { readonly client: ApiClient; readonly agent: string; readonly job: string; readonly status: string }) {
  const queries = useQueryClient();
  const path = { agent, job };
  const undos = useQuery({
    ...undosQuery(client, agent, job),
    refetchInterval: (query) => (query.state.data?.undos.some((undo) => undo.status === 'pending' || undo.status === 'processing') ? pollMs : false),
  });
  const refresh = () => Promise.all([queries.invalidateQueries({ queryKey: ['job', agent, job] }), queries.invalidateQueries({ queryKey: ['jobs', agent] })]);
  const retry = useMutation({ mutationFn: () => unwrap(client.POST('/agents/{agent}/jobs/{job}/retry', { params: { path } })), onSuccess: refresh });
  const cancel = useMutation({ mutationFn: () => unwrap(client.POST('/agents/{agent}/jobs/{job}/cancel', { params: { path } })), onSuccess: refresh });
  const undo = useMutation({
    mutationFn: () => unwrap(client.POST('/agents/{agent}/jobs/{job}/undo', { params: { path } })),
    onSettled: () => queries.invalidateQueries({ queryKey: ['job-undos', agent, job] }),
  });
  const latest = undos.data?.undos[0];
  const refusal = useRoleRefusal(client, agent, 'operator');
  const actions = [
    { name: 'Retry', rule: retryRule(status), mutation: retry, variant: 'quiet' as const },
    { name: 'Cancel', rule: cancelRule(status), mutation: cancel, variant: 'danger' as const },
    { name: 'Undo', rule: undoRule(status, latest), mutation: undo, variant: 'danger' as const },
  ];
  const busy = actions.some((action) => action.mutation.isPending);
  return (
    <div className="job-actions">
      <div className="actions">
        {actions.map(({ name, rule, mutation, variant }) => {
          const reason = refusal ?? rule.reason;
          return (
            <Button key={name} variant={variant} disabled={reason !== undefined || busy} title={reason} aria-describedby={refusal !== undefined ? 'job-action-role' : rule.reason !== undefined ? `job-action-${name}` : undefined} onClick={() => mutation.mutate()}>
              {name}
            </Button>
          );
        })}
      </div>
      {/* Room for two reasons, the most a live job shows, so a change of status moves nothing below. */}
      <div className="job-action-hints">
        {refusal !== undefined ? (
          <p id="job-action-role" className="hint">
            {refusal}
          </p>
        ) : (
          actions
            .filter(({ rule }) => rule.reason !== undefined)
            .map(({ name, rule }) => (
              <p key={name} id={`job-action-${name}`} className="hint">
                {name}: {rule.reason}
              </p>
            ))
        )}
      </div>
      {actions.map(({ name, mutation }) => (
        <ErrorNotice key={name} error={mutation.error} />
      ))}
      {retry.data && (
        <p className="notice">
          Retried as <a href={href({ page: 'job', agent, job: retry.data.id })}>{retry.data.id}</a>.
        </p>
      )}
      <ErrorNotice error={undos.error} />
      {latest && <UndoReport undo={latest} />}
    </div>
  );
}

/** The latest undo of the job: its status and what it reverted, skipped or failed to revert. */
function UndoReport({ undo }: { readonly undo: Undo }) {
  return (
    <section aria-label="Undo report" className="card">
      <strong>Undo</strong> <StatusBadge status={undo.status} /> {undo.statusReason ?? ''}
      <dl className="facts">
        <dt>Reverted</dt>
        <dd>{undo.counts.reverted}</dd>
        <dt>Skipped</dt>
        <dd>{undo.counts.skipped}</dd>
        <dt>Failed</dt>
        <dd>{undo.counts.failed}</dd>
        <dt>Requested</dt>
        <dd>{new Date(undo.createdAt).toLocaleString()}</dd>
      </dl>
      {undo.error && (
        <p className="field-error">
          {undo.error.message} <code>{undo.error.code}</code>
        </p>
      )}
    </section>
  );
}
