import { QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { createApiClient } from '../api/client';
import { createQueryClient } from '../app';
import { JobPage } from '../pages/jobs-pages';
import { jobBody } from './job-fixture';
import { json, serve, type SeenRequest } from './serve';

/**
 * Renders the job page of `writer`/`j1` against a stubbed server: the job in
 * `status`, the caller with `role` on the agent, and no log lines, children,
 * undos, effects or pipeline steps, unless `routes` answers otherwise.
 * Resolves to the requests the page made.
 */
export function showJobPage({ status = 'completed', role = 'operator', routes = {} }: { readonly status?: string; readonly role?: string; readonly routes?: Record<string, (request: SeenRequest) => Response> } = {}): SeenRequest[] {
  const seen = serve({
    'GET /agents': json({ agents: [{ id: 'a1', slug: 'writer', name: 'Writer', role }] }),
    'GET /agents/writer/jobs/j1': json(jobBody(status)),
    'GET /agents/writer/jobs/j1/logs': json({ lines: [] }),
    'GET /agents/writer/jobs/j1/children': json({ jobs: [], nextCursor: null }),
    'GET /agents/writer/jobs/j1/undos': json({ undos: [] }),
    'GET /agents/writer/jobs/j1/effects': json({ effects: [], nextCursor: null }),
    'GET /agents/writer/pipelines/p1': json({ id: 'p1', slug: 'digest', steps: [] }),
    ...routes,
  });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <JobPage client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" job="j1" />
    </QueryClientProvider>,
  );
  return seen;
}
