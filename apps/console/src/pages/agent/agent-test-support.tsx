import { QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { createApiClient } from '../../api/client';
import { createQueryClient } from '../../app';
import { json, serve, type SeenRequest } from '../../test-support/serve';
import { AgentPage } from '../agent-page';
import type { AgentDetails } from './agent-types';

/** The agent `writer` as the server shows it, with `config` as its own configuration. */
export function writerAgent(config: AgentDetails['config'] = {}): AgentDetails {
  return {
    id: 'a1',
    tenantId: 't1',
    slug: 'writer',
    name: 'Writer',
    description: '',
    ownerUserId: 'u1',
    templateAgentId: null,
    isDefault: false,
    config,
    effectiveConfig: config,
    createdBy: 'u1',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
  };
}

/** The agent page of `writer` for a caller with `role`, served from `routes` besides the agent and the roles. */
export function showAgent(role: string, routes: Record<string, (request: SeenRequest) => Response> = {}, agent: AgentDetails = writerAgent()) {
  const seen = serve({
    'GET /agents': json({ agents: [{ ...agent, role }] }),
    'GET /agents/writer': json(agent),
    ...routes,
  });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <AgentPage client={createApiClient({ baseUrl: 'http://console.test' })} agent="writer" />
    </QueryClientProvider>,
  );
  return seen;
}

/** The requests that changed something. */
export const changes = (seen: readonly SeenRequest[]) => seen.filter((request) => !request.route.startsWith('GET'));
