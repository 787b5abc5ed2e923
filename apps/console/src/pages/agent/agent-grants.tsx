import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient } from '../../api/client';
import { Button, ErrorNotice, TextField } from '../../components/ui';
import type { Grant } from './agent-types';

type Role = Grant['role'];
const roles: readonly Role[] = ['viewer', 'operator', 'admin'];

/**
 * Who has which role on the agent: grant a member a role, change it, revoke
 * it. Only for the agent's admins (only they may even list grants).
 */
export function AgentGrants({ client, agent }: { readonly client: ApiClient; readonly agent: string }) {
  const queries = useQueryClient();
  const grants = useQuery({ queryKey: ['agent-grants', agent], queryFn: () => unwrap(client.GET('/agents/{agent}/grants', { params: { path: { agent } } })) });
  const refresh = () => queries.invalidateQueries({ queryKey: ['agent-grants', agent] });
  const put = useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: Role }) => unwrap(client.PUT('/agents/{agent}/grants/{userId}', { params: { path: { agent, userId } }, body: { role } })),
    onSuccess: refresh,
  });
  const revoke = useMutation({
    mutationFn: (userId: string) => unwrap(client.DELETE('/agents/{agent}/grants/{userId}', { params: { path: { agent, userId } } })),
    onSuccess: refresh,
  });
  const busy = put.isPending || revoke.isPending;
  return (
    <div>
      <ErrorNotice error={grants.error} />
      <ErrorNotice error={revoke.error} />
      {grants.data && grants.data.grants.length === 0 && <p className="hint">Nobody has a role on this agent besides its owner and the tenant&apos;s admins.</p>}
      {grants.data && grants.data.grants.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Role</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {grants.data.grants.map((grant) => (
              <tr key={grant.userId}>
                <td>
                  <code>{grant.userId}</code>
                </td>
                <td>
                  <select aria-label={`Role of ${grant.userId}`} value={grant.role} disabled={busy} onChange={(event) => put.mutate({ userId: grant.userId, role: event.target.value as Role })}>
                    {roles.map((role) => (
                      <option key={role} value={role}>
                        {role}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <Button variant="danger" disabled={busy} onClick={() => revoke.mutate(grant.userId)} aria-label={`Revoke ${grant.userId}`}>
                    Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewGrant busy={busy} error={put.error} onGrant={(userId, role) => put.mutate({ userId, role })} />
    </div>
  );
}

function NewGrant({ busy, error, onGrant }: { readonly busy: boolean; readonly error: unknown; readonly onGrant: (userId: string, role: Role) => void }) {
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const fields = invalidFields(error);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onGrant(userId.trim(), role);
  };
  return (
    <form onSubmit={submit} aria-label="Grant a role">
      <ErrorNotice error={error} />
      <TextField label="Member's email or user id" name="userId" value={userId} onChange={(event) => setUserId(event.target.value)} error={fields.get('params.userId')} hint="A member of this tenant" required />
      <div className="field">
        <label htmlFor="grant-role">Role</label>
        <select id="grant-role" value={role} onChange={(event) => setRole(event.target.value as Role)}>
          {roles.map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
      </div>
      <Button type="submit" disabled={busy}>
        Grant
      </Button>
    </form>
  );
}
