import { QueryCache, QueryClient, QueryClientProvider, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useRef, useState } from 'react';
import { ApiError } from './api/api-error';
import { createApiClient, unwrap, type ApiClient } from './api/client';
import { ChatPage } from './chat/chat-sessions';
import { ConnectionBanner } from './components/connection-banner';
import { PageErrorBoundary } from './components/error-boundary';
import { Button, ErrorNotice, Section } from './components/ui';
import { AgentPage } from './pages/agent-page';
import { AgentsPage } from './pages/agents-page';
import { ApprovalsPage } from './pages/approvals-page';
import { FlowsPage } from './pages/flows-page';
import { FlowEditorPage } from './pages/flows/flow-editor';
import { PipelinePage } from './pages/flows/pipeline-page';
import { TemplatesPage } from './pages/templates-page';
import { JobPage, JobsPage } from './pages/jobs-pages';
import { href, navigate, useRoute, type Route } from './router';
import { SignIn } from './session/sign-in';

const tenantKey = 'data-machine.tenant';

/**
 * A query client whose requests are not retried on a refusal (only on a lost
 * connection), and where any 401 re-asks who is signed in, so an expired
 * session lands on the sign-in page wherever it is noticed.
 */
export function createQueryClient(): QueryClient {
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        if (error instanceof ApiError && error.status === 401 && query.queryKey[0] !== 'me') void client.invalidateQueries({ queryKey: ['me'] });
      },
    }),
    defaultOptions: {
      queries: { retry: (count, error) => count < 3 && error instanceof ApiError && error.status === 0, refetchOnWindowFocus: true },
      mutations: { retry: false },
    },
  });
  return client;
}

/** What the console can be given: its query client, and how often a lost connection is retried (tests shorten it). */
export interface AppProps {
  readonly queryClient?: QueryClient;
  readonly reconnectEveryMs?: number;
}

/**
 * The console: the sign-in page until a session exists, then the pages; a
 * banner says when the server cannot be reached, and recovers with it.
 */
export function App({ queryClient = createQueryClient(), reconnectEveryMs }: AppProps) {
  return (
    <QueryClientProvider client={queryClient}>
      {/* The pages have their own boundary (cleared by a change of route); this one catches the shell and the sign-in page. */}
      <PageErrorBoundary resetKey="console">
        <Console />
      </PageErrorBoundary>
      <ConnectionBanner {...(reconnectEveryMs === undefined ? {} : { retryEveryMs: reconnectEveryMs })} />
    </QueryClientProvider>
  );
}

const mainId = 'main-content';

/** Moves the keyboard focus to the page's content, past the navigation (the address stays: it holds the route). */
function SkipLink() {
  return (
    <a
      className="skip-link"
      href={`#${mainId}`}
      onClick={(event) => {
        event.preventDefault();
        document.getElementById(mainId)?.focus();
      }}
    >
      Skip to content
    </a>
  );
}

function Console() {
  const route = useRoute();
  const queries = useQueryClient();
  const [tenant, setTenant] = useState<string | undefined>(() => localStorage.getItem(tenantKey) ?? undefined);
  // The tenant every request names (x-tenant): set below once the user's tenants are known.
  const chosen = useRef<string | undefined>(undefined);
  const client = useMemo(() => createApiClient({ tenant: () => chosen.current }), []);
  const me = useQuery({ queryKey: ['me'], queryFn: () => unwrap(client.GET('/me')), retry: false });
  const signOut = useMutation({
    mutationFn: () => unwrap(client.DELETE('/console/session')),
    onSettled: () => queries.resetQueries(),
  });

  if (route.page === 'login' || (me.error instanceof ApiError && me.error.status === 401)) {
    return (
      <SignIn
        client={client}
        loginToken={route.page === 'login' ? route.token : undefined}
        onSignedIn={() => {
          navigate({ page: 'agents' });
          void queries.resetQueries();
        }}
      />
    );
  }
  if (me.isPending) return <p className="loading">Loading…</p>;
  // A failed refetch keeps the pages (the banner tells of a lost connection); only a first failure replaces them.
  if (me.data === undefined) {
    return (
      <main className="content">
        <ErrorNotice error={me.error} />
      </main>
    );
  }

  const tenants = me.data.tenants;
  const chooseTenant = async (slug: string) => {
    localStorage.setItem(tenantKey, slug);
    // Before refetching: the refetched requests must already name the new tenant.
    chosen.current = slug;
    setTenant(slug);
    await queries.invalidateQueries();
  };
  // A remembered tenant the user no longer belongs to falls back to their first.
  const current = tenants.some((membership) => membership.tenant.slug === tenant) ? tenant : tenants[0]?.tenant.slug;
  chosen.current = current;
  return (
    <div className="layout">
      <SkipLink />
      <header className="top">
        <a className="brand" href={href({ page: 'agents' })}>
          Data Machine
        </a>
        <nav aria-label="Main" className="top-nav">
          <a href={href({ page: 'agents' })} aria-current={route.page === 'agents' ? 'page' : undefined}>
            Agents
          </a>
          <a href={href({ page: 'approvals' })} aria-current={route.page === 'approvals' ? 'page' : undefined}>
            Approvals
          </a>
          <a href={href({ page: 'templates' })} aria-current={route.page === 'templates' ? 'page' : undefined}>
            Templates
          </a>
        </nav>
        {tenants.length > 1 && (
          <label>
            Tenant{' '}
            <select value={current} onChange={(event) => void chooseTenant(event.target.value)}>
              {tenants.map((membership) => (
                <option key={membership.tenant.id} value={membership.tenant.slug}>
                  {membership.tenant.name} ({membership.role})
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="who">{me.data.user.displayName}</span>
        <Button onClick={() => signOut.mutate()}>Sign out</Button>
      </header>
      <main className="content" id={mainId} tabIndex={-1}>
        <PageErrorBoundary resetKey={JSON.stringify(route)}>
          <Page client={client} route={route} tenant={current} />
        </PageErrorBoundary>
      </main>
    </div>
  );
}

function Page({ client, route, tenant }: { readonly client: ApiClient; readonly route: Route; readonly tenant: string | undefined }) {
  switch (route.page) {
    case 'login':
    case 'agents':
      return <AgentsPage client={client} />;
    case 'approvals':
      return <ApprovalsPage client={client} />;
    case 'agent':
      return <AgentPage client={client} agent={route.agent} />;
    case 'chat':
      return (
        <Section title={`Chat with ${route.agent}`} actions={<a href={href({ page: 'agent', agent: route.agent })}>Agent</a>}>
          <ChatPage client={client} agent={route.agent} tenant={tenant} />
        </Section>
      );
    case 'jobs':
      return <JobsPage client={client} agent={route.agent} />;
    case 'job':
      return <JobPage client={client} agent={route.agent} job={route.job} />;
    case 'flows':
      return <FlowsPage client={client} agent={route.agent} />;
    case 'flow':
      return <FlowEditorPage client={client} agent={route.agent} flow={route.flow} />;
    case 'pipeline':
      return <PipelinePage client={client} agent={route.agent} pipeline={route.pipeline} />;
    case 'templates':
      return <TemplatesPage client={client} />;
    case 'not_found':
      return (
        <Section title="Not found">
          <p>
            There is no page <code>{route.path}</code>. <a href={href({ page: 'agents' })}>See the agents.</a>
          </p>
        </Section>
      );
  }
}
