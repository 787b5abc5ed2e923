import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient } from '../../api/client';
import { Button, ErrorNotice, TextField } from '../../components/ui';
import type { TokenCapability } from './agent-types';

/** What an agent token may be allowed, with what each means. */
export const tokenCapabilities: readonly { readonly capability: TokenCapability; readonly meaning: string }[] = [
  { capability: 'chat', meaning: 'chat with the agent and read it' },
  { capability: 'use_tools', meaning: "let its runs use the agent's tools" },
  { capability: 'view_logs', meaning: 'read jobs, logs and pending actions' },
  { capability: 'manage_flows', meaning: 'create and run pipelines and flows' },
  { capability: 'manage_agents', meaning: "change the agent's settings and memory" },
];

/** How long a new token lasts. */
const expiries = [
  { label: 'Never expires', days: null },
  { label: '7 days', days: 7 },
  { label: '30 days', days: 30 },
  { label: '90 days', days: 90 },
] as const;

/** The expiry instant of a token created at `now` that lasts `days` (null: never). */
export function expiryOf(now: Date, days: number | null): string | null {
  return days === null ? null : new Date(now.getTime() + days * 86_400_000).toISOString();
}

/**
 * The agent's tokens: create one narrowed to some capabilities, with an
 * expiry; its secret is shown once, right after creation, with a copy button,
 * and never again. List and revoke. Only for the agent's admins.
 */
export function AgentTokens({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const tokens = useQuery({ queryKey: ['agent-tokens', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/tokens', { params: { path: { agent } } })) });
  const revoke = useMutation({
    mutationFn: (tokenId: string) => unwrap(client.DELETE('/agents/{agent}/tokens/{tokenId}', { params: { path: { agent, tokenId } } })),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['agent-tokens', agent] }),
  });
  return (
    <div>
      <ErrorNotice error={tokens.error} />
      <ErrorNotice error={revoke.error} />
      {tokens.data && tokens.data.tokens.length === 0 && <p className="hint">This agent has no tokens.</p>}
      {tokens.data && tokens.data.tokens.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Starts with</th>
              <th scope="col">Capabilities</th>
              <th scope="col">Expires</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.tokens.map((token) => (
              <tr key={token.id}>
                <td>{token.label}</td>
                <td>
                  <code>{token.prefix}</code>
                </td>
                <td>{token.ceiling.join(', ')}</td>
                <td>{token.expiresAt === null ? 'never' : new Date(token.expiresAt).toLocaleString()}</td>
                <td>{token.lastUsedAt === null ? 'never' : new Date(token.lastUsedAt).toLocaleString()}</td>
                <td>
                  {token.revokedAt === null ? (
                    <Button variant="danger" disabled={revoke.isPending} onClick={() => revoke.mutate(token.id)} aria-label={`Revoke ${token.label}`}>
                      Revoke
                    </Button>
                  ) : (
                    <span className="hint">revoked {new Date(token.revokedAt).toLocaleString()}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewToken client={client} agent={agent} />
    </div>
  );
}

function NewToken({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const [label, setLabel] = useState('');
  const [ceiling, setCeiling] = useState<readonly TokenCapability[]>(['chat']);
  const [days, setDays] = useState<number | null>(null);
  const create = useMutation({
    mutationFn: () => unwrap(client.POST('/agents/{agent}/tokens', { params: { path: { agent } }, body: { label, ceiling: [...ceiling], expiresAt: expiryOf(new Date(), days) } })),
    onSuccess: async () => {
      setLabel('');
      await queries.invalidateQueries({ queryKey: ['agent-tokens', agent] });
    },
  });
  const fields = invalidFields(create.error);
  const toggle = (capability: TokenCapability, on: boolean) => setCeiling((current) => (on ? [...current, capability] : current.filter((held) => held !== capability)));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <>
      {create.data && <NewTokenSecret label={create.data.token.label} secret={create.data.secret} onDone={() => create.reset()} />}
      <form onSubmit={submit} aria-label="Create a token">
        <ErrorNotice error={create.error} />
        <TextField label="Label" name="label" value={label} onChange={(event) => setLabel(event.target.value)} error={fields.get('label')} hint="What the token is for" required />
        <fieldset className="field" aria-invalid={fields.has('ceiling')}>
          <legend>Capabilities</legend>
          {tokenCapabilities.map(({ capability, meaning }) => (
            <label key={capability} className="choice">
              <input type="checkbox" checked={ceiling.includes(capability)} onChange={(event) => toggle(capability, event.target.checked)} /> <code>{capability}</code>: {meaning}
            </label>
          ))}
          {fields.has('ceiling') && <small className="field-error">Choose at least one capability.</small>}
        </fieldset>
        <div className="field">
          <label htmlFor="token-expiry">Expiry</label>
          <select id="token-expiry" value={days === null ? '' : String(days)} onChange={(event) => setDays(event.target.value === '' ? null : Number(event.target.value))}>
            {expiries.map((expiry) => (
              <option key={expiry.label} value={expiry.days === null ? '' : String(expiry.days)}>
                {expiry.label}
              </option>
            ))}
          </select>
        </div>
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create token
        </Button>
      </form>
    </>
  );
}

/** A new token's secret, this once: copy it now, it is never shown again. */
function NewTokenSecret({ label, secret, onDone }: { readonly label: string; readonly secret: string; readonly onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>(undefined);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  return (
    <section className="notice" aria-label="New token secret">
      <p>
        <strong>Token “{label}” created.</strong> Copy its secret now: it is shown only this once.
      </p>
      <pre>
        <code>{secret}</code>
      </pre>
      <div className="actions">
        <Button variant="primary" onClick={() => void copy()}>
          Copy secret
        </Button>
        <Button onClick={onDone}>I have copied it</Button>
      </div>
      {copied === 'yes' && <p className="hint">Copied.</p>}
      {copied === 'failed' && <p className="field-error">The browser refused to copy; select the secret and copy it by hand.</p>}
    </section>
  );
}
