import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { unwrap, type ApiClient } from '../api/client';
import type { paths } from '../api/schema';
import { LoadMore, usePagedList } from '../components/paged-list';
import { Button, ErrorNotice, Section, StatusBadge, TextField } from '../components/ui';
import { href } from '../router';
import { roleRefusal, useAgentRoles, type AgentRole } from './agent-role';

type Approval = paths['/approvals']['get']['responses'][200]['content']['application/json']['approvals'][number];
type ApprovalStatus = Approval['status'];

/** The statuses the inbox can be filtered by; `pending` first, the inbox's default. */
export const approvalStatuses: readonly ApprovalStatus[] = ['pending', 'applying', 'accepted', 'rejected', 'failed'];

/** A stored value shown exactly, as indented JSON. */
function Json({ value }: { readonly value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

/**
 * The approvals inbox: pending actions of every agent the caller may read,
 * each with the exact call accepting it would run, and the decided ones as
 * history.
 */
export function ApprovalsPage({ client }: { readonly client: ApiClient }) {
  const [status, setStatus] = useState<ApprovalStatus>('pending');
  const roles = useAgentRoles(client);
  const listed = usePagedList({
    queryKey: ['approvals', status],
    fetchPage: (cursor) => unwrap(client.GET('/approvals', { params: { query: cursor === undefined ? { status } : { status, cursor } } })),
    items: (page) => page.approvals,
    // Another status is another list: "Loading…", not the old status's actions.
    keepPrevious: false,
  });
  const shown = listed.items;
  // History: every decided action, newest first, whatever the filter shows.
  const history = useQuery({
    queryKey: ['approvals', 'all'],
    queryFn: () => unwrap(client.GET('/approvals')),
    select: (data) => data.approvals.filter((approval) => approval.decidedAt !== null),
  });
  return (
    <>
      <Section
        title="Approvals"
        actions={
          <label>
            Status{' '}
            <select value={status} onChange={(event) => setStatus(event.target.value as ApprovalStatus)}>
              {approvalStatuses.map((option) => (
                <option key={option} value={option}>
                  {option}
                </option>
              ))}
            </select>
          </label>
        }
      >
        <ErrorNotice error={listed.query.error} />
        {listed.query.isPending && <p>Loading…</p>}
        {shown && shown.length === 0 && <p>{status === 'pending' ? 'Nothing is waiting for a decision.' : `No ${status} actions.`}</p>}
        {shown?.map((approval) => {
          const agent = roles.byId.get(approval.agentId);
          return <ApprovalCard key={approval.id} client={client} approval={approval} agentSlug={agent?.slug} role={agent?.role} />;
        })}
        <LoadMore list={listed}>Show more</LoadMore>
      </Section>
      <Section title="History">
        <ErrorNotice error={history.error} />
        {history.data && history.data.length === 0 && <p>No decided actions yet.</p>}
        {history.data && history.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Action</th>
                <th scope="col">Agent</th>
                <th scope="col">Status</th>
                <th scope="col">Decided</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((approval) => (
                <tr key={approval.id}>
                  <td>{approval.summary}</td>
                  <td>{roles.byId.get(approval.agentId)?.name ?? <code>{approval.agentId}</code>}</td>
                  <td>
                    <StatusBadge status={approval.status} />
                  </td>
                  <td>
                    {approval.decidedAt !== null && new Date(approval.decidedAt).toLocaleString()} {approval.decidedVia !== null && <small>via {approval.decidedVia}</small>}
                  </td>
                  <td>{approval.reason ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}

/** One action: what it is, the exact input that would run, and, while pending, accept / reject. */
function ApprovalCard({ client, approval, agentSlug, role }: { readonly client: ApiClient; readonly approval: Approval; readonly agentSlug: string | undefined; readonly role: AgentRole | undefined }) {
  const queries = useQueryClient();
  const [reason, setReason] = useState('');
  const decide = useMutation({
    mutationFn: (decision: 'accept' | 'reject') => {
      const body = reason.trim() === '' ? {} : { reason: reason.trim() };
      const path = { approval: approval.id };
      return unwrap(decision === 'accept' ? client.POST('/approvals/{approval}/accept', { params: { path }, body }) : client.POST('/approvals/{approval}/reject', { params: { path }, body }));
    },
    onSettled: () => queries.invalidateQueries({ queryKey: ['approvals'] }),
  });
  const refusal = roleRefusal(role, 'operator');
  const pending = approval.status === 'pending';
  return (
    <article className="card" aria-label={approval.summary}>
      <header>
        <strong>{approval.summary}</strong> <StatusBadge status={approval.status} />
      </header>
      <dl className="facts">
        <dt>Tool</dt>
        <dd>
          <code>{approval.toolName}</code> ({approval.kind})
        </dd>
        {approval.jobId !== null ? (
          <>
            <dt>Job</dt>
            <dd>{agentSlug !== undefined ? <a href={href({ page: 'job', agent: agentSlug, job: approval.jobId })}>{approval.jobId}</a> : <code>{approval.jobId}</code>}</dd>
          </>
        ) : (
          <>
            <dt>Chat session</dt>
            <dd>
              <code>{approval.sessionId}</code>
            </dd>
          </>
        )}
        <dt>{pending ? 'Expires' : 'Decided'}</dt>
        <dd>{new Date(pending ? approval.expiresAt : (approval.decidedAt ?? approval.expiresAt)).toLocaleString()}</dd>
      </dl>
      <h3>What will run</h3>
      <Json value={approval.input} />
      {!pending && approval.result !== null && approval.result !== undefined && (
        <>
          <h3>Result</h3>
          <Json value={approval.result} />
        </>
      )}
      {pending && (
        <div className="decision">
          <ErrorNotice error={decide.error} />
          {refusal !== undefined ? (
            <p className="hint">{refusal}</p>
          ) : (
            <TextField label="Reason (optional)" value={reason} onChange={(event) => setReason(event.target.value)} />
          )}
          <Button variant="primary" disabled={refusal !== undefined || decide.isPending} title={refusal} onClick={() => decide.mutate('accept')}>
            Accept
          </Button>{' '}
          <Button variant="danger" disabled={refusal !== undefined || decide.isPending} title={refusal} onClick={() => decide.mutate('reject')}>
            Reject
          </Button>
        </div>
      )}
    </article>
  );
}
