import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { unwrap, type ApiClient } from '../api/client';
import { LoadMore, usePagedList } from '../components/paged-list';
import { ErrorNotice, Section, StatusBadge, TextField } from '../components/ui';
import { hashQuery, href, replaceHashQuery } from '../router';
import { JobActions } from './job-actions';
import { JobEffects } from './job-effects';
import { endedStatuses, pollMs } from './job-status';

/** A job is live until it ends: keep polling while any shown job is. */
function pollWhileLive(jobs: readonly { status: string }[] | undefined): number | false {
  return jobs?.some((job) => !endedStatuses.has(job.status)) ? pollMs : false;
}

/** The statuses a job can have, for the status filter. */
const jobStatuses = ['pending', 'processing', 'waiting', 'completed', 'completed_no_items', 'failed', 'cancelled', 'skipped'] as const;
type JobStatus = (typeof jobStatuses)[number];

/** The jobs list's filters, as the address keeps them: a flow slug, a status, and days (`YYYY-MM-DD`, local time). */
export interface JobFilters {
  readonly flow: string;
  readonly status: string;
  readonly since: string;
  readonly before: string;
}

const filterNames = ['flow', 'status', 'since', 'before'] as const;

/** The filters in `query` (the address after `?`); a missing one is empty. */
export function readJobFilters(query: URLSearchParams): JobFilters {
  const [flow, status, since, before] = filterNames.map((name) => query.get(name) ?? '') as [string, string, string, string];
  return { flow, status, since, before };
}

/** `filters` as an address query, the empty ones left out. */
export function jobFiltersQuery(filters: JobFilters): URLSearchParams {
  return new URLSearchParams(filterNames.flatMap((name) => (filters[name] === '' ? [] : [[name, filters[name]]])));
}

/** The start of a local day (`YYYY-MM-DD`) as an instant, or undefined for an empty or unreadable day. */
function dayStart(day: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const at = new Date(`${day}T00:00:00`);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

const isStatus = (status: string): status is JobStatus => (jobStatuses as readonly string[]).includes(status);

/** The list request's query for `filters`: since is inclusive, before exclusive, both at the start of the local day. */
export function jobListQuery(filters: JobFilters, cursor: string | undefined) {
  const since = dayStart(filters.since);
  const before = dayStart(filters.before);
  return {
    ...(filters.flow === '' ? {} : { flow: filters.flow }),
    ...(isStatus(filters.status) ? { status: filters.status } : {}),
    ...(since === undefined ? {} : { createdSince: since }),
    ...(before === undefined ? {} : { createdBefore: before }),
    ...(cursor === undefined ? {} : { cursor }),
  };
}

/** An agent's jobs, newest first, with their status kept current, filtered by flow, status and day of creation (kept in the address), a page at a time. */
export function JobsPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const [filters, setFilters] = useState(() => readJobFilters(hashQuery()));
  const change = (name: keyof JobFilters, value: string) => {
    const next = { ...filters, [name]: value };
    setFilters(next);
    replaceHashQuery(jobFiltersQuery(next));
  };
  const flows = useQuery({ queryKey: ['flows', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/flows', { params: { path: { agent } } })) });
  const jobs = usePagedList({
    queryKey: ['jobs', agent, filters],
    fetchPage: (cursor) => unwrap(client.GET('/agents/{agent}/jobs', { params: { path: { agent }, query: jobListQuery(filters, cursor) } })),
    items: (page) => page.jobs,
    refetchInterval: pollWhileLive,
  });
  const shown = jobs.items;
  const filtered = filterNames.some((name) => filters[name] !== '');
  const ids = useId();
  return (
    <Section title={`Jobs of ${agent}`}>
      <form aria-label="Job filters" className="filters" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={`${ids}-flow`}>Flow</label>
          <select id={`${ids}-flow`} value={filters.flow} onChange={(event) => change('flow', event.target.value)}>
            <option value="">All flows</option>
            {flows.data?.flows.map((flow) => (
              <option key={flow.id} value={flow.slug}>
                {flow.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${ids}-status`}>Status</label>
          <select id={`${ids}-status`} value={filters.status} onChange={(event) => change('status', event.target.value)}>
            <option value="">All statuses</option>
            {jobStatuses.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </div>
        <TextField label="Created since" type="date" value={filters.since} onChange={(event) => change('since', event.target.value)} />
        <TextField label="Created before" type="date" value={filters.before} onChange={(event) => change('before', event.target.value)} />
      </form>
      <ErrorNotice error={jobs.query.error ?? flows.error} />
      {shown && shown.length === 0 && <p>{filtered ? 'No job matches these filters.' : 'No jobs yet: run a flow.'}</p>}
      {shown && shown.length > 0 && <JobTable agent={agent} jobs={shown} />}
      <LoadMore list={jobs} />
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

/** One job: its status and error, its step outputs, its children (a fan-out's items), its effects and its log lines, last: they grow while the job runs, and nothing below them moves. */
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
  const children = usePagedList({
    queryKey: ['job-children', agent, job, status],
    fetchPage: (cursor) => unwrap(client.GET('/agents/{agent}/jobs/{job}/children', { params: { path, query: cursor === undefined ? {} : { cursor } } })),
    items: (page) => page.jobs,
    refetchInterval: live ? pollMs : false,
  });
  const shownChildren = children.items;
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
      {found.data && <StepOutputs client={client} agent={agent} pipeline={found.data.pipelineId} engineData={found.data.engineData} />}
      <Section title="Children">
        <ErrorNotice error={children.query.error} />
        {children.query.isPending && <p>Loading…</p>}
        {shownChildren && shownChildren.length === 0 && <p>No children.</p>}
        {shownChildren && shownChildren.length > 0 && <JobTable agent={agent} jobs={shownChildren} />}
        <LoadMore list={children}>Load more children</LoadMore>
      </Section>
      <JobEffects client={client} agent={agent} job={job} live={live} />
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

/** A step's output, as the job's engine data holds it. */
export interface StepOutput {
  readonly step: string;
  /** Whether the step has written an output yet. */
  readonly done: boolean;
  readonly output: unknown;
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The steps' outputs in `engineData`, in the pipeline's step order (the
 * stored document does not keep the order it was written in), then any
 * output of a step the pipeline no longer has.
 */
export function stepOutputs(stepKeys: readonly string[], engineData: Readonly<Record<string, unknown>>): StepOutput[] {
  const outputs = isRecord(engineData.outputs) ? engineData.outputs : {};
  const known = new Set(stepKeys);
  return [...stepKeys.map((step) => ({ step, done: Object.hasOwn(outputs, step), output: outputs[step] })), ...Object.keys(outputs).filter((step) => !known.has(step)).map((step) => ({ step, done: true, output: outputs[step] }))];
}

/** Each step's output, folded (`<details>`), and the item a fan-out child works on. */
function StepOutputs({ client, agent, pipeline, engineData }: { readonly client: ApiClient; readonly agent: string; readonly pipeline: string; readonly engineData: Readonly<Record<string, unknown>> }) {
  const found = useQuery({ queryKey: ['pipeline', agent, pipeline], queryFn: () => unwrap(client.GET('/agents/{agent}/pipelines/{pipeline}', { params: { path: { agent, pipeline } } })) });
  const steps = stepOutputs(found.data?.steps.map((step) => step.key) ?? [], engineData);
  const item = isRecord(engineData.item) ? engineData.item : undefined;
  return (
    <Section title="Step outputs">
      <ErrorNotice error={found.error} />
      {item !== undefined && (
        <details className="step-output">
          <summary>Item {String(item.sourceKey)}</summary>
          <pre className="json">{JSON.stringify(item.data, null, 2)}</pre>
        </details>
      )}
      {found.data && steps.length === 0 && <p>No steps.</p>}
      {steps.map(({ step, done, output }) =>
        done ? (
          <details key={step} className="step-output">
            <summary>Step {step}</summary>
            <pre className="json">{JSON.stringify(output, null, 2) ?? 'null'}</pre>
          </details>
        ) : (
          // One line, as a folded output is: a step's output appearing moves nothing below.
          <div key={step} className="step-output hint">
            Step {step}: no output yet.
          </div>
        ),
      )}
    </Section>
  );
}
