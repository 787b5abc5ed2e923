import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import { ErrorNotice, Section, StatusBadge } from '../components/ui';
import { href } from '../router';
import { JobActions } from './job-actions';
import { endedStatuses, pollMs } from './job-status';


/** A job is live until it ends: keep polling while any shown job is. */
function pollWhileLive(jobs: readonly { status: string }[] | undefined): number | false {
  return jobs?.some((job) => !endedStatuses.has(job.status)) ? pollMs : false;
}

/** An agent's jobs, newest first, with their status kept current. */
export function JobsPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const jobs = useQuery({
    queryKey: ['jobs', agent],
    queryFn: () => unwrap(client.GET('/agents/{agent}/jobs', { params: { path: { agent } } })),
    refetchInterval: (query) => pollWhileLive(query.state.data?.jobs),
  });
  return (
    <Section title={`Jobs of ${agent}`}>
      <ErrorNotice error={jobs.error} />
      {jobs.data && jobs.data.jobs.length === 0 && <p>No jobs yet: run a flow.</p>}
      {jobs.data && jobs.data.jobs.length > 0 && <JobTable agent={agent} jobs={jobs.data.jobs} />}
    </Section>
  );
}

interface JobRow {
  readonly id: string;
  readonly status: string;
  readonly source: string;
  readonly currentStep: string | null;
  readonly createdAt: string;
  readonly error: { readonly code: string; readonly message: string } | null;
}

function JobTable({ agent, jobs }: { readonly agent: string; readonly jobs: readonly JobRow[] }) {
  return (
    <table className="table">
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Status</th>
          <th scope="col">Source</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((job) => (
          <tr key={job.id}>
            <td>
              <a href={href({ page: 'job', agent, job: job.id })}>
                <code>{job.id}</code>
              </a>
            </td>
            <td>
              <StatusBadge status={job.status} />
              {job.error && <small className="field-error"> {job.error.code}</small>}
            </td>
            <td>{job.source}</td>
            <td>{new Date(job.createdAt).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One job: its status and error, its children (a fan-out's items) and its log lines, last: they grow while the job runs, and nothing below them moves. */
export function JobPage({ client, agent, job }: { readonly client: ApiClient; readonly agent: string; readonly job: string }) {
  const path = { agent, job };
  const found = useQuery({
    queryKey: ['job', agent, job],
    queryFn: () => unwrap(client.GET('/agents/{agent}/jobs/{job}', { params: { path } })),
    refetchInterval: (query) => pollWhileLive(query.state.data ? [query.state.data] : undefined),
  });
  const live = found.data !== undefined && !endedStatuses.has(found.data.status);
  // Keyed by the status too: the job's end fetches its last log lines and children once more.
  const status = found.data?.status;
  const logs = useQuery({ queryKey: ['job-logs', agent, job, status], queryFn: () => unwrap(client.GET('/agents/{agent}/jobs/{job}/logs', { params: { path } })), refetchInterval: live ? pollMs : false, placeholderData: keepPreviousData });
  const children = useQuery({ queryKey: ['job-children', agent, job, status], queryFn: () => unwrap(client.GET('/agents/{agent}/jobs/{job}/children', { params: { path } })), refetchInterval: live ? pollMs : false, placeholderData: keepPreviousData });
  return (
    <>
      <Section title={`Job ${job}`}>
        <ErrorNotice error={found.error} />
        {found.data && (
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={found.data.status} /> {found.data.statusReason ?? ''}
            </dd>
            <dt>Current step</dt>
            <dd>{found.data.currentStep ?? '—'}</dd>
            <dt>Attempts</dt>
            <dd>{found.data.attempts}</dd>
            {found.data.error && (
              <>
                <dt>Error</dt>
                <dd>
                  {found.data.error.message} <code>{found.data.error.code}</code>
                </dd>
              </>
            )}
          </dl>
        )}
        {found.data && <JobActions client={client} agent={agent} job={job} status={found.data.status} />}
      </Section>
      <Section title="Children">
        <ErrorNotice error={children.error} />
        {children.isPending && <p>Loading…</p>}
        {children.data && children.data.jobs.length === 0 && <p>No children.</p>}
        {children.data && children.data.jobs.length > 0 && <JobTable agent={agent} jobs={children.data.jobs} />}
      </Section>
      <Section title="Logs">
        <ErrorNotice error={logs.error} />
        {logs.isPending && <p>Loading…</p>}
        {logs.data && logs.data.lines.length === 0 && <p>No log lines.</p>}
        {logs.data && logs.data.lines.length > 0 && (
          <ol className="logs">
            {logs.data.lines.map((line) => (
              <li key={line.id} className={`log-${line.level}`}>
                <time dateTime={line.createdAt}>{new Date(line.createdAt).toLocaleTimeString()}</time> <strong>{line.level}</strong> {line.message}
              </li>
            ))}
          </ol>
        )}
      </Section>
    </>
  );
}
