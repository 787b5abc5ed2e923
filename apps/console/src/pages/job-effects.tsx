import { useQuery } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import type { paths } from '../api/schema';
import { LoadMore, usePagedList } from '../components/paged-list';
import { ErrorNotice, Section } from '../components/ui';
import { href } from '../router';
import { undosQuery } from './job-actions';
import { pollMs } from './job-status';

/** An effect of a job, as the API answers it. */
export type JobEffect = paths['/agents/{agent}/jobs/{job}/effects']['get']['responses'][200]['content']['application/json']['effects'][number];

/** An effect's undo state in plain words: `Not undone`, `Undone`, `Skipped: already gone`, `Undo failed`. */
export function undoStateText(undo: JobEffect['undo']): string {
  if (undo.status === 'skipped') return `Skipped: ${undo.reason.replace(/_/g, ' ')}`;
  if (undo.status === 'failed') return 'Undo failed';
  return undo.status === 'undone' ? 'Undone' : 'Not undone';
}

/**
 * What the job's handlers (and its fan-out children's) did on other
 * systems, oldest first: a table of when, step, handler, what (linked when the
 * handler recorded an address) and where each stands with undo. Read again
 * while the job runs and whenever its latest undo changes status.
 */
export function JobEffects({ client, agent, job, live }: { readonly client: ApiClient; readonly agent: string; readonly job: string; readonly live: boolean }) {
  const path = { agent, job };
  // The same query the job's actions poll while an undo runs: its end fetches the effects' new undo states.
  const latestUndo = useQuery(undosQuery(client, agent, job)).data?.undos[0];
  const effects = usePagedList({
    queryKey: ['job-effects', agent, job, live, latestUndo?.id, latestUndo?.status],
    fetchPage: (cursor) => unwrap(client.GET('/agents/{agent}/jobs/{job}/effects', { params: { path, query: cursor === undefined ? {} : { cursor } } })),
    items: (page) => page.effects,
    refetchInterval: live ? pollMs : false,
  });
  const shown = effects.items;
  return (
    <Section title="Effects">
      <ErrorNotice error={effects.query.error} />
      {effects.query.isPending && <p>Loading…</p>}
      {shown && shown.length === 0 && <p>No effects recorded: no handler of this job reported a change on another system.</p>}
      {shown && shown.length > 0 && <EffectTable agent={agent} job={job} effects={shown} />}
      <LoadMore list={effects} />
    </Section>
  );
}

function EffectTable({ agent, job, effects }: { readonly agent: string; readonly job: string; readonly effects: readonly JobEffect[] }) {
  return (
    <table className="table">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Step</th>
          <th scope="col">Handler</th>
          <th scope="col">What</th>
          <th scope="col">Undo</th>
        </tr>
      </thead>
      <tbody>
        {effects.map((effect) => (
          <tr key={`${effect.jobId} ${effect.key}`}>
            <td>
              <time dateTime={effect.at}>{new Date(effect.at).toLocaleString()}</time>
            </td>
            <td>
              {effect.step ?? '—'}
              {effect.jobId !== job && (
                <small className="hint">
                  {' '}
                  in <a href={href({ page: 'job', agent, job: effect.jobId })}>{effect.jobId}</a>
                </small>
              )}
            </td>
            <td>{effect.handler ?? '—'}</td>
            <td>
              {effect.kind.replace(/_/g, ' ')}{' '}
              {effect.url === null ? (
                <code>{effect.ref}</code>
              ) : (
                <a href={effect.url} target="_blank" rel="noopener noreferrer">
                  <code>{effect.ref}</code>
                </a>
              )}
            </td>
            <td>
              <UndoState undo={effect.undo} reversible={effect.reversible} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function UndoState({ undo, reversible }: { readonly undo: JobEffect['undo']; readonly reversible: boolean }) {
  if (undo.status === 'failed') {
    return (
      <span className="field-error">
        {undoStateText(undo)}: {undo.error.message} <code>{undo.error.code}</code>
      </span>
    );
  }
  return (
    <>
      {undoStateText(undo)}
      {undo.status === 'not_undone' && !reversible && <small className="hint"> (cannot be undone)</small>}
      {undo.status === 'skipped' && undo.message !== null && <small className="hint"> {undo.message}</small>}
    </>
  );
}
