import { describeEachDatabase } from '@data-machine/testkit';
import { actions, createAgent, type Action, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { as, digestPipeline, startApp } from '../../test/support/http-world';
import {
  createReplayWorld,
  decisionFor,
  endedJob,
  grantReplayRoles,
  issueReplayToken,
  outcomeOf,
  pendingAction,
  replayPrincipals,
  type ReplayOutcome,
  type ReplayPrincipal,
  type ReplayWorld,
  unaccountedActions,
} from '../../test/support/authorization-world';

// The authorization matrix of the identity issue replayed over HTTP: every
// action through one representative route, as every principal a request can
// be made as. What each call must answer is computed from the product's own
// rules (`decide`), so changing a rule changes this test; an action without a
// route here (and not listed below with its reason) fails it.

/** What a case asks: the request, and the agent it is about when that is a fresh one made for the case. */
interface HttpCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly payload?: Record<string, unknown>;
  /** A fresh agent standing in for the target: tokens are issued for it. */
  readonly agent?: string;
}

/** What a route is called with: the world, a number unique to the case, and the suite's context. */
interface CaseInput {
  readonly world: ReplayWorld;
  readonly n: number;
  readonly context: DataMachineContext;
  readonly database: Parameters<typeof endedJob>[1];
}

/** One representative route of an action; `allowed` when an allowed call's answer is not 2xx. */
interface HttpRoute {
  readonly label: string;
  call(input: CaseInput): Promise<HttpCall> | HttpCall;
  readonly allowed?: { readonly status: number; readonly code: string };
}

const httpRoutes: Readonly<Partial<Record<Action, readonly HttpRoute[]>>> = {
  'agent.read': [{ label: 'GET /agents/{agent}', call: ({ world }) => ({ method: 'GET', url: `/agents/${world.agent}` }) }],
  'agent.create': [{ label: 'POST /agents', call: ({ n }) => ({ method: 'POST', url: '/agents', payload: { slug: `own-${n}`, name: 'Own' } }) }],
  'agent.create_any': [
    { label: 'POST /agents with another owner', call: ({ world, n }) => ({ method: 'POST', url: '/agents', payload: { slug: `theirs-${n}`, name: 'Theirs', ownerUserId: world.bystander.id } }) },
  ],
  'agent.edit': [{ label: 'PATCH /agents/{agent}', call: ({ world }) => ({ method: 'PATCH', url: `/agents/${world.agent}`, payload: { name: 'Target' } }) }],
  'agent.delete': [
    {
      label: 'DELETE /agents/{agent} (a fresh agent with the same grants)',
      async call({ world, n, context }) {
        const slug = `doomed-${n}`;
        await createAgent(context, world.ownerScope, { slug, name: 'Doomed' });
        await grantReplayRoles(context, world, slug);
        return { method: 'DELETE', url: `/agents/${slug}`, agent: slug };
      },
    },
  ],
  'agent.grant': [
    { label: 'PUT /agents/{agent}/grants/{user}', call: ({ world }) => ({ method: 'PUT', url: `/agents/${world.agent}/grants/${world.bystander.id}`, payload: { role: 'viewer' } }) },
  ],
  'token.create': [{ label: 'POST /agents/{agent}/tokens', call: ({ world }) => ({ method: 'POST', url: `/agents/${world.agent}/tokens`, payload: { label: 'made', ceiling: ['chat'] } }) }],
  'flow.create': [{ label: 'POST /agents/{agent}/pipelines', call: ({ world, n }) => ({ method: 'POST', url: `/agents/${world.agent}/pipelines`, payload: { ...digestPipeline, slug: `made-${n}` } }) }],
  'flow.run': [{ label: 'POST /agents/{agent}/flows/{flow}/run', call: ({ world }) => ({ method: 'POST', url: `/agents/${world.agent}/flows/${world.flow}/run` }) }],
  'queue.add': [
    { label: 'POST …/steps/{step}/queues/prompt', call: ({ world }) => ({ method: 'POST', url: `/agents/${world.agent}/flows/${world.flow}/steps/think/queues/prompt`, payload: { body: 'Write.' } }) },
  ],
  'approval.read': [{ label: 'GET /approvals?agent={agent}', call: ({ world }) => ({ method: 'GET', url: `/approvals?agent=${world.agent}` }) }],
  'job.undo': [
    {
      label: 'POST /agents/{agent}/jobs/{job}/undo (a fresh ended job)',
      call: async ({ world, context, database }) => ({ method: 'POST', url: `/agents/${world.agent}/jobs/${await endedJob(context, database, world)}/undo` }),
    },
  ],
  'approval.resolve': [
    {
      label: 'POST /approvals/{approval}/reject (a fresh pending action)',
      call: async ({ world, n, context, database }) => ({ method: 'POST', url: `/approvals/${await pendingAction(context, database, world, `act_http_${n}`)}/reject`, payload: {} }),
    },
  ],
  'logs.read': [
    { label: 'GET /agents/{agent}/jobs', call: ({ world }) => ({ method: 'GET', url: `/agents/${world.agent}/jobs` }) },
    {
      label: 'GET /agents/{agent}/jobs/{job}/effects (a fresh ended job)',
      call: async ({ world, context, database }) => ({ method: 'GET', url: `/agents/${world.agent}/jobs/${await endedJob(context, database, world)}/effects` }),
    },
  ],
  // The app has no model: a turn the caller may take is 503 model.not_configured, decided after `chat` is.
  'chat': [
    { label: 'POST /agents/{agent}/chat', call: ({ world }) => ({ method: 'POST', url: `/agents/${world.agent}/chat`, payload: { message: 'Hi' } }), allowed: { status: 503, code: 'model.not_configured' } },
  ],
  'transcripts.read': [{ label: 'GET /agents/{agent}/chat/sessions?everyUser=true', call: ({ world }) => ({ method: 'GET', url: `/agents/${world.agent}/chat/sessions?everyUser=true` }) }],
  'tenant.manage': [
    { label: 'PATCH /tenant', call: ({ world }) => ({ method: 'PATCH', url: '/tenant', payload: { name: world.tenant.slug } }) },
    { label: 'GET /tenant/members', call: () => ({ method: 'GET', url: '/tenant/members' }) },
  ],
};

/** Actions no route does, and why. */
const withoutRoute: Readonly<Partial<Record<Action, string>>> = {
  'tools.use': "decided for the agent's runs (the ceiling of its runtime principal), not for a request: no route does it",
};

/**
 * Actions routed by work merged beside this one: none in this branch. A
 * templates route (install is `agent.create_any`) or memory-file routes
 * (`agent.read` / `agent.edit`) add routes, not actions; an action added with
 * them gets its route above when merged.
 */
const mappedAtMerge: Readonly<Partial<Record<Action, string>>> = {};

/** The HTTP principals: the matrix's, but the system, which acts only from the CLI and the server itself. */
const principals = replayPrincipals.filter((principal) => principal.kind !== 'system');

const describeOutcome = (outcome: ReplayOutcome, route: HttpRoute): string => {
  if (outcome.kind === 'allowed') return route.allowed ? `${route.allowed.status} ${route.allowed.code}` : '2xx';
  if (outcome.kind === 'unauthenticated') return `401 ${outcome.code}`;
  return outcome.kind === 'denied' ? '403 access.denied' : '404 (as missing)';
};

describe('the HTTP replay of the authorization matrix', () => {
  it('maps every action to a route, or says why it has none', () => {
    expect(unaccountedActions(httpRoutes, withoutRoute, mappedAtMerge)).toEqual([]);
  });
});

await describeEachDatabase<DataMachineDatabase>('authorization over HTTP', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  let world: ReplayWorld;
  const tokens = new Map<string, string>();
  let n = 0;

  // Building the world is some fifty writes: more than the default hook timeout on a busy machine.
  beforeAll(async () => {
    ({ app, context } = await startApp(database));
    world = await createReplayWorld(context, createDefaultHandlers(context), 'authz-http');
    // Issued before the cases run side by side: issuing the viewer's token raises the viewer for a moment.
    for (const principal of principals) await bearerOf(principal, world.agent);
  }, 120_000);
  afterAll(async () => {
    await app.close();
  });

  /** The bearer `principal` calls with; agent tokens are issued for `agent` once. */
  async function bearerOf(principal: ReplayPrincipal, agent: string): Promise<string> {
    if (principal.kind === 'user') return world.users[principal.user].token;
    if (principal.kind === 'system') throw new Error('the system principal has no bearer');
    const key = `${principal.name} ${agent}`;
    const cached = tokens.get(key);
    if (cached !== undefined) return cached;
    const secret = await issueReplayToken(context, database, world, principal.token, agent);
    tokens.set(key, secret);
    return secret;
  }

  for (const action of actions) {
    for (const route of httpRoutes[action] ?? []) {
      // Each case is on resources of its own (or changes nothing a principal relies on): on Postgres they run side by side
      // (PGlite has one connection: side by side there is only slower).
      (database.backend === 'postgres' ? describe.concurrent : describe)(`${action}: ${route.label}`, () => {
        for (const principal of principals) {
          const outcome = outcomeOf(decisionFor(principal, action, new Date()));
          it(`${principal.name}: ${describeOutcome(outcome, route)}`, async ({ expect }) => {
            n += 1;
            const call = await route.call({ world, n, context, database });
            const bearer = await bearerOf(principal, call.agent ?? world.agent);
            const response = await app.inject({
              method: call.method,
              url: call.url,
              headers: as(bearer, { 'x-tenant': world.tenant.slug }),
              ...(call.payload === undefined ? {} : { payload: call.payload }),
            });
            const code = response.body === '' ? null : ((response.json() as { error?: { code?: string } }).error?.code ?? null);
            const seen = { status: response.statusCode, code };
            if (outcome.kind === 'allowed') {
              if (route.allowed) expect(seen).toEqual(route.allowed);
              else expect(seen).toEqual({ status: seen.status >= 200 && seen.status < 300 ? seen.status : 'a 2xx status', code: null });
            } else if (outcome.kind === 'denied') {
              expect(seen).toEqual({ status: 403, code: 'access.denied' });
            } else if (outcome.kind === 'hidden') {
              expect(seen).toEqual({ status: 404, code: expect.stringMatching(/\.not_found$/) });
            } else {
              expect(seen).toEqual({ status: 401, code: outcome.code });
            }
          }, 30_000);
        }
      });
    }
  }
});
