import { QueryCache, QueryClient, QueryClientProvider, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useRef, useState } from 'react';
import { ApiError } from './api/api-error';
import { createApiClient, unwrap, type ApiClient } from './api/client';
import { ChatPage } from './chat/chat-sessions';
import { Button, ErrorNotice, Section } from './components/ui';
import { AgentPage } from './pages/agent-page';
import { AgentsPage } from './pages/agents-page';
import { ApprovalsPage } from './pages/approvals-page';
import { FlowsPage } from './pages/flows-page';
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

/** The console: the sign-in page until a session exists, then the pages. */
export function App({ queryClient = createQueryClient() }: { readonly queryClient?: QueryClient }) {
  return (
    <QueryClientProvider client={queryClient}>
      <Console />
    </QueryClientProvider>
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
  if (me.error) return <ErrorNotice error={me.error} />;

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
      <header className="top">
        <a className="brand" href={href({ page: 'agents' })}>
          Data Machine
        </a>
        <a href={href({ page: 'approvals' })}>Approvals</a>
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
      <main className="content">
        <Page client={client} route={route} tenant={current} />
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
