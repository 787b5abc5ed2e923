import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { unwrap, type ApiClient } from '../api/client';
import { ErrorNotice, Section } from '../components/ui';
import { href } from '../router';
import { AgentGrants } from './agent/agent-grants';
import { AgentSettings } from './agent/agent-settings';
import { AgentTokens } from './agent/agent-tokens';
import { MemoryFiles } from './agent/memory-files';
import { roleRefusal, useAgentRoles } from './agent-role';

const tabs = [
  { id: 'settings', label: 'Settings' },
  { id: 'memory', label: 'Memory files' },
  { id: 'grants', label: 'Access' },
  { id: 'tokens', label: 'Tokens' },
] as const;
type Tab = (typeof tabs)[number]['id'];

/**
 * One agent: where to go next, and its settings, memory files, grants and
 * tokens. Everything that changes the agent is for its admins: anyone else
 * sees the fields read-only (or nothing, where even listing is the admins')
 * with the reason. The server checks every request again.
 */
export function AgentPage({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const found = useQuery({ queryKey: ['agent', agent], queryFn: () => unwrap(client.GET('/agents/{agent}', { params: { path: { agent } } })) });
  const roles = useAgentRoles(client);
  const [tab, setTab] = useState<Tab>('settings');
  // While the roles load nothing is offered: the refusal reads as the role's.
  const refusal = roles.isPending ? 'Checking your role on this agent…' : roleRefusal(roles.bySlug.get(found.data?.slug ?? agent), 'admin');
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
          <div role="tablist" aria-label="Agent sections" className="actions tabs">
            {tabs.map(({ id, label }) => (
              <button
                key={id}
                type="button"
                role="tab"
                id={`agent-tab-${id}`}
                aria-selected={tab === id}
                aria-controls={`agent-panel-${id}`}
                className={`button ${tab === id ? 'button-primary' : 'button-quiet'}`}
                onClick={() => setTab(id)}
              >
                {label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`agent-panel-${tab}`} aria-labelledby={`agent-tab-${tab}`} className="tab-panel">
            {tab === 'settings' && <AgentSettings client={client} agent={found.data} refusal={refusal} />}
            {tab === 'memory' && <MemoryFiles client={client} agent={found.data.slug} refusal={refusal} />}
            {/* Only admins may even list grants and tokens: anyone else gets the reason and no request. */}
            {tab === 'grants' && (refusal === undefined ? <AgentGrants client={client} agent={found.data.slug} /> : <p className="hint">{refusal}</p>)}
            {tab === 'tokens' && (refusal === undefined ? <AgentTokens client={client} agent={found.data.slug} /> : <p className="hint">{refusal}</p>)}
          </div>
        </>
      )}
    </Section>
  );
}
