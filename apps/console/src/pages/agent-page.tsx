import { useQuery } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api/client';
import { ErrorNotice, Section } from '../components/ui';
import { href } from '../router';

/** One agent: what it is, the caller's role, and where to go next. */
export function AgentPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const found = useQuery({ queryKey: ['agent', agent], queryFn: () => unwrap(client.GET('/agents/{agent}', { params: { path: { agent } } })) });
  return (
    <Section title={found.data?.name ?? agent}>
      <ErrorNotice error={found.error} />
      {found.data && (
        <>
          <dl className="facts">
            <dt>Slug</dt>
            <dd>
              <code>{found.data.slug}</code>
            </dd>
            <dt>Model</dt>
            <dd>{found.data.effectiveConfig.model ?? 'the server default'}</dd>
            <dt>Instructions</dt>
            <dd className="pre">{found.data.effectiveConfig.instructions ?? '—'}</dd>
          </dl>
          <nav className="actions" aria-label="Agent">
            <a className="button button-primary" href={href({ page: 'chat', agent })}>
              Chat
            </a>
            <a className="button button-quiet" href={href({ page: 'flows', agent })}>
              Flows
            </a>
            <a className="button button-quiet" href={href({ page: 'jobs', agent })}>
              Jobs
            </a>
          </nav>
        </>
      )}
    </Section>
  );
}
