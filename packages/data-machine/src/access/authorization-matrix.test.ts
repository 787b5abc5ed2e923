import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionRules, actions, type Action } from './actions';
import type { AccessFacts, Actor } from './actor';
import { decide } from './authorize';
import { roleCapabilities, tenantCapabilities, tenantRoles, type AgentRole, type TenantRole } from './roles';

// The authorization matrix: every action against every kind of principal, on
// agent `a1` of tenant `t1`. The same data renders docs/authorization.md
// (set DM_WRITE_DOCS=1 to rewrite it), and a test fails when the two differ.

const now = new Date('2026-11-30T12:00:00Z');
const past = new Date('2026-11-01T00:00:00Z');
const future = new Date('2027-01-01T00:00:00Z');
const tenantId = 't1';
const agentId = 'a1';

function facts(membership: TenantRole | null, agentRole?: AgentRole, tenant = tenantId): AccessFacts {
  const wide = membership === 'owner' || membership === 'admin';
  return { tenantId: tenant, membership, agentRoles: new Map(agentRole ? [[agentId, agentRole]] : []), tenantWideRole: wide ? 'admin' : null };
}

function token(ceiling: Extract<Actor, { kind: 'token' }>['ceiling'], extra: Partial<Extract<Actor, { kind: 'token' }>> = {}): Actor {
  return { kind: 'token', userId: 'u-agent-admin', tokenId: 'tok', agentId, ceiling, expiresAt: future, revokedAt: null, channel: 'http', ...extra };
}

const everyTokenCapability = ['chat', 'use_tools', 'manage_agents', 'manage_flows', 'view_logs'] as const;
const agentAdminFacts = facts('editor', 'admin');

interface Principal {
  readonly name: string;
  readonly actor: Actor;
  readonly facts: AccessFacts;
}

const principals: readonly Principal[] = [
  { name: 'tenant owner', actor: { kind: 'user', userId: 'u-owner', channel: 'http' }, facts: facts('owner') },
  { name: 'tenant admin', actor: { kind: 'user', userId: 'u-admin', channel: 'http' }, facts: facts('admin') },
  { name: 'agent admin (editor)', actor: { kind: 'user', userId: 'u-agent-admin', channel: 'http' }, facts: agentAdminFacts },
  { name: 'operator (editor)', actor: { kind: 'user', userId: 'u-operator', channel: 'http' }, facts: facts('editor', 'operator') },
  { name: 'viewer (editor)', actor: { kind: 'user', userId: 'u-viewer', channel: 'http' }, facts: facts('editor', 'viewer') },
  { name: 'viewer (subscriber)', actor: { kind: 'user', userId: 'u-subscriber', channel: 'http' }, facts: facts('subscriber', 'viewer') },
  { name: 'member without grant (editor)', actor: { kind: 'user', userId: 'u-member', channel: 'http' }, facts: facts('editor') },
  { name: "other tenant's admin", actor: { kind: 'user', userId: 'u-other', channel: 'http' }, facts: facts('admin', undefined, 't2') },
  { name: 'non-member', actor: { kind: 'user', userId: 'u-stranger', channel: 'http' }, facts: facts(null) },
  { name: 'token, full ceiling', actor: token(everyTokenCapability), facts: agentAdminFacts },
  { name: 'token, chat only', actor: token(['chat']), facts: agentAdminFacts },
  { name: 'token of a viewer, full ceiling', actor: token(everyTokenCapability), facts: facts('editor', 'viewer') },
  { name: 'token, expired', actor: token(everyTokenCapability, { expiresAt: past }), facts: agentAdminFacts },
  { name: 'token, revoked', actor: token(everyTokenCapability, { revokedAt: past }), facts: agentAdminFacts },
  { name: 'token for another agent', actor: token(everyTokenCapability, { agentId: 'a2' }), facts: agentAdminFacts },
  { name: 'scheduled work (as agent admin)', actor: { kind: 'schedule', userId: 'u-agent-admin', agentId, channel: 'schedule' }, facts: agentAdminFacts },
  { name: 'scheduled work of another agent', actor: { kind: 'schedule', userId: 'u-agent-admin', agentId: 'a2', channel: 'schedule' }, facts: agentAdminFacts },
  { name: 'system', actor: { kind: 'system', channel: 'cli', reason: 'operator console' }, facts: facts(null) },
  { name: 'CLI as agent admin', actor: { kind: 'user', userId: 'u-agent-admin', channel: 'cli' }, facts: agentAdminFacts },
];

// allow | 404 (invisible, answered as missing) | 403:<reason>
type Outcome = string;
const A = 'allow';
const N = '404';
const low = '403:agent_role_too_low';
const cap = '403:missing_capability';
const ceil = '403:token_ceiling';
const noTok = '403:token_not_allowed';
const exp = '403:token_expired';
const rev = '403:token_revoked';

// Columns follow `principals` in order.
const expected: Readonly<Record<Action, readonly Outcome[]>> = {
  //                   owner adm  agAdm oper view vSub mem other non  tokF tokC tokV tokE tokR tokO sch  schO sys  cli
  'agent.read':        [A,   A,   A,    A,   A,   A,   N,  N,    N,   A,   A,   A,   exp, rev, N,   A,   N,   A,   A],
  'agent.create':      [A,   A,   A,    A,   A,   cap, A,  N,    N,   noTok, noTok, noTok, exp, rev, noTok, A, A, A, A],
  'agent.create_any':  [A,   A,   cap,  cap, cap, cap, cap, N,   N,   noTok, noTok, noTok, exp, rev, noTok, cap, cap, A, cap],
  'agent.edit':        [A,   A,   A,    low, low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'agent.delete':      [A,   A,   A,    low, low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'agent.grant':       [A,   A,   A,    low, low, low, N,  N,    N,   noTok, noTok, noTok, exp, rev, noTok, A, N, A,   A],
  'token.create':      [A,   A,   A,    low, low, low, N,  N,    N,   noTok, noTok, noTok, exp, rev, noTok, A, N, A,   A],
  'flow.create':       [A,   A,   A,    low, low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'flow.run':          [A,   A,   A,    A,   low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'queue.add':         [A,   A,   A,    A,   low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'approval.read':     [A,   A,   A,    A,   A,   A,   N,  N,    N,   A,   ceil, A,   exp, rev, N,   A,   N,   A,   A],
  'job.undo':          [A,   A,   A,    A,   low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'approval.resolve':  [A,   A,   A,    A,   low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'logs.read':         [A,   A,   A,    A,   low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'chat':              [A,   A,   A,    A,   A,   A,   N,  N,    N,   A,   A,   A,   exp, rev, N,   A,   N,   A,   A],
  'tools.use':         [A,   A,   A,    A,   A,   cap, N,  N,    N,   A,   ceil, A,   exp, rev, N,   A,   N,   A,   A],
  'transcripts.read':  [A,   A,   A,    low, low, low, N,  N,    N,   A,   ceil, low, exp, rev, N,   A,   N,   A,   A],
  'tenant.manage':     [A,   A,   cap,  cap, cap, cap, cap, N,   N,   noTok, noTok, noTok, exp, rev, noTok, cap, cap, A, cap],
};

const tenantLevel = (action: Action): boolean => !('agentRole' in actionRules[action]);

function outcome(principal: Principal, action: Action): Outcome {
  const target = tenantLevel(action) ? { tenantId } : { tenantId, agentId };
  const decision = decide(principal.actor, principal.facts, action, target, now);
  if (decision.allowed) return A;
  return decision.visible ? `403:${decision.reason}` : N;
}

describe('authorization matrix', () => {
  it('covers every action', () => {
    expect(Object.keys(expected).sort()).toEqual([...actions].sort());
  });

  for (const action of actions) {
    describe(action, () => {
      principals.forEach((principal, index) => {
        const want = expected[action][index];
        it(`${principal.name}: ${want}`, () => {
          expect(outcome(principal, action)).toBe(want);
        });
      });
    });
  }

  it('is the table in docs/authorization.md', async () => {
    const file = path.resolve(import.meta.dirname, '../../../../docs/authorization.md');
    const rendered = renderDocs();
    if (process.env.DM_WRITE_DOCS === '1') await writeFile(file, rendered);
    expect(await readFile(file, 'utf8')).toBe(rendered);
  });
});

function renderDocs(): string {
  const lines = [
    '# Authorization',
    '',
    '<!-- Rendered from packages/data-machine/src/access/authorization-matrix.test.ts and the rule tables;',
    '     regenerate with `DM_WRITE_DOCS=1 pnpm vitest run packages/data-machine/src/access`. -->',
    '',
    'One module decides `(actor, action, target) -> allow | deny(reason)`: `decide` in',
    '`packages/data-machine/src/access/authorize.ts`. It combines the tenant role\'s capabilities, the role',
    "on the agent, an agent token's ceiling (which only narrows its owner's rights) and expiry, and",
    'where scheduled work may act. `system` is allowed everything and is only ever chosen explicitly',
    '(`--as system` on the CLI, the server\'s own maintenance jobs). Every denial is logged with its reason.',
    '',
    '## Tenant roles and capabilities',
    '',
    `| role | ${tenantCapabilities.join(' | ')} |`,
    `| --- | ${tenantCapabilities.map(() => '---').join(' | ')} |`,
    ...tenantRoles.map((role) => `| ${role} | ${tenantCapabilities.map((capability) => (roleCapabilities[role].includes(capability) ? 'yes' : '')).join(' | ')} |`),
    '',
    'Tenant owners and admins are `admin` on every agent of their tenant; an agent\'s owner is its `admin`.',
    'Agent roles, weakest first: `viewer` (read), `operator` (run flows, queues, approvals, jobs and logs), `admin` (everything on the agent).',
    '',
    '## Actions',
    '',
    '| action | what | agent role | tenant capability | token ceiling must list |',
    '| --- | --- | --- | --- | --- |',
    ...actions.map((action) => {
      const rule: { description: string; agentRole?: string; capability?: string; tokenCapability?: string } = actionRules[action];
      return `| \`${action}\` | ${rule.description} | ${rule.agentRole ?? '(tenant)'} | ${rule.capability ?? ''} | ${rule.tokenCapability ?? '(no token may)'} |`;
    }),
    '',
    '## The matrix',
    '',
    '`allow`; `404`: the actor may not know the agent exists, answered exactly as a missing agent; `403:reason`: refused with that reason.',
    'Agent-level actions are on agent `a1` of tenant `t1`; the tokens belong to the agent admin unless the row says otherwise.',
    '',
    `| principal | ${actions.map((action) => `\`${action}\``).join(' | ')} |`,
    `| --- | ${actions.map(() => '---').join(' | ')} |`,
    ...principals.map((principal, index) => `| ${principal.name} | ${actions.map((action) => expected[action][index]).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}
