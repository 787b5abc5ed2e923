/** @vitest-environment jsdom */
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, type SeenRequest } from '../../test-support/serve';
import { changes, showAgent } from './agent-test-support';

const grant = (userId: string, role: string) => ({ agentId: 'a1', userId, role, createdBy: 'u1', createdAt: '2026-12-01T00:00:00.000Z' });

/** A server keeping the agent's grants; a user id that is not a member is refused as the real one refuses it. */
function grantServer() {
  const grants = new Map<string, string>([['u2', 'viewer']]);
  const put = (userId: string) => (request: SeenRequest) => {
    if (userId === 'stranger') return json({ error: { code: 'membership.not_found', message: 'User "stranger" is not a member of this tenant.' } }, 404)();
    grants.set(userId, (request.body as { role: string }).role);
    return json(grant(userId, grants.get(userId) ?? ''))();
  };
  return {
    grants,
    routes: {
      'GET /agents/writer/grants': () => json({ grants: [...grants].map(([userId, role]) => grant(userId, role)) })(),
      'PUT /agents/writer/grants/u2': put('u2'),
      'PUT /agents/writer/grants/u3': put('u3'),
      'PUT /agents/writer/grants/ada%40example.test': put('u4'),
      'PUT /agents/writer/grants/stranger': put('stranger'),
      'DELETE /agents/writer/grants/u2': () => {
        grants.delete('u2');
        return new Response(null, { status: 204 });
      },
    },
  };
}

async function openAccess() {
  fireEvent.click(await screen.findByRole('tab', { name: 'Access' }));
  return screen.findByRole('form', { name: 'Grant a role' });
}

// A whole page renders in each test; its first render, under a full suite on two cores, can pass the 5 s default.
describe('agent grants', { timeout: 20_000 }, () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('grants a member a role, changes one and revokes one', async () => {
    const server = grantServer();
    const seen = showAgent('admin', server.routes);
    const form = await openAccess();
    fireEvent.change(within(form).getByLabelText("Member's email or user id", { exact: false }), { target: { value: 'u3' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'operator' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    await screen.findByRole('combobox', { name: 'Role of u3' });
    fireEvent.change(screen.getByRole('combobox', { name: 'Role of u2' }), { target: { value: 'admin' } });
    await waitFor(() => expect(server.grants.get('u2')).toBe('admin'));
    fireEvent.click(screen.getByRole('button', { name: 'Revoke u2' }));
    await waitFor(() => expect(screen.queryByRole('combobox', { name: 'Role of u2' })).toBeNull());
    expect(changes(seen).map((request) => [request.route, request.body])).toEqual([
      ['PUT /agents/writer/grants/u3', { role: 'operator' }],
      ['PUT /agents/writer/grants/u2', { role: 'admin' }],
      ['DELETE /agents/writer/grants/u2', undefined],
    ]);
  });

  it('grants by email, listing the member under their user id as the server answers', async () => {
    const seen = showAgent('admin', grantServer().routes);
    const form = await openAccess();
    fireEvent.change(within(form).getByLabelText("Member's email or user id", { exact: false }), { target: { value: ' ada@example.test ' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    await screen.findByRole('combobox', { name: 'Role of u4' });
    expect(changes(seen).map((request) => request.route)).toEqual(['PUT /agents/writer/grants/ada%40example.test']);
  });

  it('says plainly when the user is not a member', async () => {
    showAgent('admin', grantServer().routes);
    const form = await openAccess();
    fireEvent.change(within(form).getByLabelText("Member's email or user id", { exact: false }), { target: { value: 'stranger' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Grant' }));
    expect((await within(form).findByRole('alert')).textContent).toContain('User "stranger" is not a member of this tenant.');
  });

  it('offers a viewer no grants, saying why, and asks the server for none', async () => {
    const seen = showAgent('viewer', grantServer().routes);
    fireEvent.click(await screen.findByRole('tab', { name: 'Access' }));
    await screen.findByText('Your role on this agent is viewer; only an admin or above may do this.');
    expect(screen.queryByRole('form', { name: 'Grant a role' })).toBeNull();
    expect(seen.some((request) => request.route.includes('/grants'))).toBe(false);
  });
});
