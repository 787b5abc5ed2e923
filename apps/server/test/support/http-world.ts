import type { DatabaseSuiteContext } from '@data-machine/testkit';
import {
  addMember,
  createBearerAccessCache,
  createDataMachineContext,
  createTenant,
  createUser,
  createJobEngine,
  createUserToken,
  grantAgentRole,
  resolveScope,
  signWebhookBody,
  webhookSignatureHeader,
  webhookTimestampHeader,
  type Actor,
  type DataMachineContext,
  type DataMachineDatabase,
  type TenantRole,
} from 'data-machine';
import type { FastifyInstance } from 'fastify';
import { sql, type Transaction } from 'kysely';
import { buildApp, type AppDependencies } from '../../src/http/app';
import { listenForAccessChanges } from '../../src/database/access-change-listener';
import { accessChangeSourceOf, recordAccessChanges, type AccessChangeRecorder } from './access-change-recorder';

const system: Actor = { kind: 'system', channel: 'cli', reason: 'test setup' };

/** The app on the suite's (migrated) database, with the context it runs on and that context's clock (real time until set). */
/** The server secret test apps sign approval links with. */
export const testSecretKey = 'test-secret-key-of-the-http-suites-0123456789';

export async function startApp(
  database: DatabaseSuiteContext<DataMachineDatabase>,
  options: Pick<AppDependencies, 'rateLimit' | 'chat' | 'console' | 'secretKey' | 'inbound' | 'handlersAllowPrivateAddresses'> & { readonly accessCache?: boolean } = {},
): Promise<{ app: FastifyInstance; context: DataMachineContext; setNow: (instant: Date) => void; accessChanges: AccessChangeRecorder }> {
  let fixed: Date | undefined;
  // Runs are enqueued on the suite's database; no worker takes them (nothing runs).
  const { pglite, url } = database.database;
  const engine = createJobEngine({ supervise: false, database: pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 } });
  // With `accessCache`, the app keeps bearer access as `serve` does: a cache its own listener keeps in step.
  const accessChanges = recordAccessChanges();
  const accessCache = options.accessCache === true ? createBearerAccessCache() : undefined;
  const listener = accessCache && listenForAccessChanges({ source: accessChangeSourceOf(database.database), cache: accessCache, onEvent: accessChanges.onEvent });
  const context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined }, now: () => fixed ?? new Date(), ...(accessCache ? { accessCache } : {}) });
  const app = buildApp({
    database: { backend: database.backend, db: database.db, ping: async () => (await sql`select 1`.execute(database.db)).rows.length === 1, close: async () => undefined },
    context,
    // Suites send hundreds of requests with one token; the limit itself has its own suite.
    rateLimit: options.rateLimit ?? { max: 1_000_000, windowMs: 60_000 },
    ...(options.chat ? { chat: options.chat } : {}),
    ...(options.console ? { console: options.console } : {}),
    ...(options.secretKey ? { secretKey: options.secretKey } : {}),
    ...(options.inbound ? { inbound: options.inbound } : {}),
    ...(options.handlersAllowPrivateAddresses ? { handlersAllowPrivateAddresses: true } : {}),
    jobEngine: { engine, workersRunning: () => null },
    secretKey: testSecretKey,
  });
  app.addHook('onClose', () => engine.stop());
  if (listener) app.addHook('onClose', () => listener.close());
  await engine.start();
  await app.ready();
  if (listener) await accessChanges.next((event) => event.kind === 'listening');
  return { app, context, setNow: (instant) => (fixed = instant), accessChanges };
}

let counter = 0;

/** A new user with a personal access token. */
export async function person(context: DataMachineContext, name: string): Promise<{ id: string; token: string }> {
  counter += 1;
  const user = await createUser(context, system, { email: `${name}-${counter}@example.test`, displayName: name });
  const { secret } = await createUserToken(context, system, { label: 'test', forUserId: user.id });
  return { id: user.id, token: secret };
}

/** A tenant `slug` with an owner, and one member per role in `roles` (each with a token). */
export async function tenantWorld(context: DataMachineContext, slug: string, roles: readonly TenantRole[] = []) {
  const owner = await person(context, `${slug}-owner`);
  const created = await createTenant(context, system, { slug, name: slug, ownerUserId: owner.id });
  const ownerScope = await resolveScope(context, { kind: 'user', userId: owner.id, channel: 'cli' }, created.tenant.id);
  const members: Partial<Record<TenantRole, { id: string; token: string }>> = {};
  for (const role of roles) {
    const member = await person(context, `${slug}-${role}`);
    await addMember(context, ownerScope, { userId: member.id, role });
    members[role] = member;
  }
  return { owner, members, ownerScope, tenant: created.tenant, defaultAgent: created.defaultAgent };
}

/** Gives `userId` a role on the agent, as the owner. */
export async function grant(context: DataMachineContext, world: Awaited<ReturnType<typeof tenantWorld>>, agent: string, userId: string, role: 'admin' | 'operator' | 'viewer'): Promise<void> {
  await grantAgentRole(context, world.ownerScope, agent, { userId, role });
}

/** POSTs `payload` to the flow's inbound webhook (`path` after it: a waiting job's gate), signed with `secret` at `at`. */
export function deliverWebhook(app: FastifyInstance, flowId: string, secret: string, payload: string, at: Date = new Date(), path = '') {
  const timestamp = Math.floor(at.getTime() / 1000);
  return app.inject({
    method: 'POST',
    url: `/hooks/flows/${flowId}${path}`,
    headers: { 'content-type': 'application/json', [webhookTimestampHeader]: String(timestamp), [webhookSignatureHeader]: signWebhookBody(secret, timestamp, payload) },
    payload,
  });
}

/** Headers of a request with `token`. */
export const as = (token: string, headers: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${token}`, ...headers });

/** Runs engine-side `work` (creating jobs, writing logs) in a transaction of the tenant, as the worker does. */
export function asEngine<T>(database: DatabaseSuiteContext<DataMachineDatabase>, tenantId: string, work: (trx: Transaction<DataMachineDatabase>) => Promise<T>): Promise<T> {
  return database.db.transaction().execute(async (trx) => {
    await sql`select set_config('dm.tenant_id', ${tenantId}, true)`.execute(trx);
    return work(trx);
  });
}

/** A pipeline that fetches from `json_items` and publishes to `records`. */
export const digestPipeline = {
  slug: 'digest',
  name: 'Digest',
  steps: [
    { key: 'fetch', type: 'fetch', handler: 'json_items', config: { items: [] } },
    { key: 'think', type: 'ai' },
    { key: 'store', type: 'publish', handler: 'records', config: { collection: 'notes' } },
  ],
} as const;

/**
 * A tenant whose default agent has the pipeline `digest` and the flow `daily`, made through the API;
 * its editor is the agent's viewer, its author an operator.
 */
export async function tenantWithFlow(app: FastifyInstance, context: DataMachineContext, slug: string) {
  const world = await tenantWorld(context, slug, ['editor', 'author']);
  const agent = world.defaultAgent.slug;
  for (const [url, payload] of [
    [`/agents/${agent}/pipelines`, digestPipeline],
    [`/agents/${agent}/flows`, { pipeline: 'digest', slug: 'daily', name: 'Daily' }],
  ] as const) {
    const response = await app.inject({ method: 'POST', url, headers: as(world.owner.token), payload });
    if (response.statusCode !== 201) throw new Error(`setting up ${slug}: ${url} answered ${response.statusCode}`);
  }
  const viewer = world.members.editor!;
  const operator = world.members.author!;
  await grant(context, world, agent, viewer.id, 'viewer');
  await grant(context, world, agent, operator.id, 'operator');
  return { world, agent, viewer, operator, run: `/agents/${agent}/flows/daily/run`, jobs: `/agents/${agent}/jobs` };
}
