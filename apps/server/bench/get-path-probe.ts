/**
 * Where an authenticated GET's CPU goes (not part of `pnpm bench`): apps built
 * up piece by piece in `buildApp`'s order (a bare route answering the agent's
 * body, then Fastify's logger with redaction and request ids, the request
 * log's hooks, metrics, the zod compilers and route schemas, the access lookup,
 * the rate limit) and the whole app at `silent` and `info` (lines to a null
 * stream), each answering `GET /agents/default` over a socket from the same
 * in-process client, 8 at a time, all on access-cache hits (the `statements`
 * column: per request, from the database's commit count). Each round runs every
 * variant once, starting at another one; per variant it prints the median CPU
 * (`process.cpuUsage`, user + system, client included) per request, the
 * lowest over the bare route's lowest, and the medians of the per-round
 * differences to the variant before (`step`) and to the bare route.
 * See docs/decisions/2026-12-01-request-path-speed.md ("Fourth pass").
 *
 * `node --import tsx --conditions=@data-machine/source bench/get-path-probe.ts`;
 * `PROBE_ROUNDS` (7), `PROBE_REQUESTS` (2000 a variant and round),
 * `PROBE_ONLY` (comma-separated parts of variant names), `PROBE_MICRO=1`
 * (the access lookup, the response serializer and the params' parse called
 * in a loop instead).
 */
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { probePostgres } from '@data-machine/testkit';
import { resolveBearerAccess } from 'data-machine';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { buildApp } from '../src/http/app';
import { registerOpenApi } from '../src/http/openapi';
import { registerMetrics } from '../src/http/metrics';
import rateLimit from '@fastify/rate-limit';
import { registerRateLimit } from '../src/http/rate-limit';
import { redactedPaths, registerRequestLogging, requestLoggingOptions } from '../src/http/request-logging';
import { requestAgent } from '../src/http/authentication';
import { toErrorResponse } from '../src/http/error-response';
import { agentBody, agentParams, agentSchema } from '../src/http/routes/agent-routes';
import { createBenchDatabase } from './bench-database';
import { sendGets } from './send-gets';

const requests = Number(process.env.PROBE_REQUESTS ?? 2000);
const rounds = Number(process.env.PROBE_ROUNDS ?? 7);
const concurrency = 8;

const backend = (await probePostgres()) ? 'postgres' : 'pglite';
const { db, appDatabase, context, secret, close } = await createBenchDatabase(backend, 'probe');
const headers = { authorization: `Bearer ${secret}` };
// The body the whole app answers, served as it is by the ladder's routes without the access lookup.
const agentJson = (await full().inject({ url: '/agents/default', headers })).json() as Record<string, unknown>;

if (process.env.PROBE_MICRO) {
  const { serializerCompiler } = await import('fastify-type-provider-zod');
  const serialize = serializerCompiler({ schema: agentSchema, method: 'GET', url: '/agents/:agent', httpStatus: '200' } as never) as (data: unknown) => string;
  const call = () => resolveBearerAccess(context, { secret, channel: 'http', tenantRef: undefined, chooseTenant: (candidates) => (candidates.memberships[0] as { tenantId: string }).tenantId, agent: { ref: 'default', action: 'agent.read' } });
  const hit = await call();
  const agentValue = (hit.agent as { ok: true; value: Parameters<typeof agentBody>[0] }).value;
  const time = async (name: string, count: number, body: () => unknown) => {
    for (let index = 0; index < 5000; index += 1) await body();
    const started = process.cpuUsage();
    for (let index = 0; index < count; index += 1) await body();
    const used = process.cpuUsage(started);
    process.stdout.write(`${name.padEnd(40)} ${((used.user + used.system) / count).toFixed(2)} µs\n`);
  };
  for (let round = 0; round < 3; round += 1) {
    await time('resolveBearerAccess hit', 20000, call);
    await time('serialize agentBody(agent)', 20000, () => serialize(agentBody(agentValue)));
    await time('serialize agentJson', 20000, () => serialize(agentJson));
    await time('agentParams.safeParse', 20000, () => agentParams.safeParse({ agent: 'default' }));
  }
  process.exit(0);
}
function nullStream(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
const loggerOptions = (level: string) => ({ logger: { level, redact: { paths: redactedPaths, censor: '[redacted]' }, stream: nullStream() } });

type Step = 'logger' | 'logHooks' | 'metrics' | 'zod' | 'rateLimit' | 'addressLimit' | 'access' | 'accessDirect';
/** A bare app with the pieces named in `steps`, in the order `buildApp` adds them. */
async function ladder(steps: readonly Step[], level = 'silent'): Promise<FastifyInstance> {
  const has = (step: Step) => steps.includes(step);
  const app = has('logger') ? Fastify({ ...loggerOptions(level), ...requestLoggingOptions() }) : Fastify();
  if (has('logHooks')) registerRequestLogging(app);
  if (has('metrics')) registerMetrics(app);
  if (has('zod')) {
    app.setErrorHandler((error, _request, reply) => {
      const response = toErrorResponse(error);
      return reply.code(response.status).send(response.body);
    });
    registerOpenApi(app);
  }
  await app.register(async (api) => {
    if (has('rateLimit')) await registerRateLimit(api, context, { max: 1_000_000_000, windowMs: 60_000 });
    if (has('addressLimit')) await api.register(rateLimit, { global: true, max: 1_000_000_000, timeWindow: 60_000, keyGenerator: (request) => request.ip });
    if (has('zod')) {
      api.withTypeProvider<ZodTypeProvider>().get(
        '/agents/:agent',
        { config: { agentAccess: { param: 'agent', action: 'agent.read' } }, schema: { params: agentParams, response: { 200: agentSchema } } },
        async (request) => {
          if (has('accessDirect')) {
            const direct = await resolveBearerAccess(context, { secret, channel: 'http', tenantRef: undefined, chooseTenant: (candidates) => (candidates.memberships[0] as { tenantId: string }).tenantId, agent: { ref: 'default', action: 'agent.read' } });
            if (!direct.agent?.ok) throw new Error('no agent');
            return agentBody(direct.agent.value);
          }
          if (!has('access')) return agentJson as never;
          const authorized = await requestAgent(context, request);
          if (!authorized) throw new Error('no agent');
          return agentBody(authorized.agent);
        },
      );
    } else {
      api.get('/agents/:agent', async () => agentJson);
    }
  });
  return app;
}

function full(level = 'silent'): FastifyInstance {
  return buildApp({
    database: appDatabase,
    context,
    logLevel: level as 'info',
    logStream: nullStream(),
    rateLimit: { max: 1_000_000_000, windowMs: 60_000 },
  });
}

const before: Step[] = ['logger', 'logHooks', 'metrics', 'zod'];
const variants: Array<[string, () => Promise<FastifyInstance> | FastifyInstance]> = [
  ['bare', () => ladder([])],
  ['bare answering {"ok":true} (the bench\'s)', () => {
    const app = Fastify();
    app.get('/agents/:agent', async () => ({ ok: true }));
    return app;
  }],
  ['+ logger (silent, redact, genReqId)', () => ladder(['logger'])],
  ['+ request-log hooks', () => ladder(['logger', 'logHooks'])],
  ['+ metrics', () => ladder(['logger', 'logHooks', 'metrics'])],
  ['+ zod compilers, schemas, error handler', () => ladder(before)],
  ['+ access lookup in the handler', () => ladder([...before, 'access'])],
  ['+ resolveBearerAccess called directly', () => ladder([...before, 'accessDirect'])],
  ['+ rate limit by address, no access', () => ladder([...before, 'addressLimit'])],
  ['+ rate limit by token, access lookup', () => ladder([...before, 'rateLimit', 'access'])],
  ['buildApp (silent)', () => full()],
  ['ladder all at info', () => ladder([...before, 'rateLimit', 'access'], 'info')],
  ['buildApp (info)', () => full('info')],
];
const only = process.env.PROBE_ONLY?.split(',');
const chosen = only ? variants.filter(([name]) => only.some((part) => name.includes(part))) : variants;

const urls: string[] = [];
const apps: FastifyInstance[] = [];
for (const [, make] of chosen) {
  const app = await make();
  await app.listen({ port: 0, host: '127.0.0.1' });
  apps.push(app);
  urls.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/agents/default`);
}

/** CPU µs a request of `count` GETs to `url`, client included. */
async function run(url: string, count: number): Promise<number> {
  const before = process.cpuUsage();
  await sendGets(url, headers, count, concurrency);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

const samples: number[][] = chosen.map(() => []);
for (const url of urls) await run(url, 500);
// Statements a request sends (a cache hit sends none): the database's commits around one run of each variant.
const commits = async () => Number((await sql<{ count: string }>`select xact_commit::text as count from pg_stat_database where datname = current_database()`.execute(db)).rows[0]?.count ?? Number.NaN);
const statements: number[] = [];
for (const url of urls) {
  const before = await commits();
  await run(url, 200);
  statements.push(((await commits()) - before - 1) / 200);
}
const loads: string[] = [loadavg()[0]!.toFixed(1)];
for (let round = 0; round < rounds; round += 1) {
  // Each round starts at another variant: a fixed order puts the garbage of the ones before on the later ones.
  for (let offset = 0; offset < urls.length; offset += 1) {
    const index = (round + offset) % urls.length;
    samples[index]!.push(await run(urls[index]!, requests));
  }
  loads.push(loadavg()[0]!.toFixed(1));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
// Each variant against the bare route of the same round: the load moves between rounds more than within one.
const overBare = (index: number) => median(samples[index]!.map((value, round) => value - samples[0]![round]!));
process.stdout.write(`get-path probe [${backend}], ${rounds} rounds x ${requests} requests, CPU µs a request (median; min..max), load ${loads.join(' ')}\n`);
for (const [index, [name]] of chosen.entries()) {
  const step = index === 0 ? 0 : median(samples[index]!.map((value, round) => value - samples[index - 1]![round]!));
  const lowest = Math.min(...samples[index]!) - Math.min(...samples[0]!);
  process.stdout.write(
    `${name.padEnd(42)} lowest over bare ${lowest.toFixed(1).padStart(6)}  ${median(samples[index]!).toFixed(1).padStart(7)}  (${Math.min(...samples[index]!).toFixed(1)}..${Math.max(...samples[index]!).toFixed(1)})  step ${step.toFixed(1).padStart(6)}  over bare ${overBare(index).toFixed(1).padStart(6)}  statements ${statements[index]!.toFixed(2)}\n`,
  );
}
for (const app of apps) await app.close();
await close();
