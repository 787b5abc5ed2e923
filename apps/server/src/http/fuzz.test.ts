import { describeEachDatabase, startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { createJob, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, asEngine, digestPipeline, startApp, tenantWorld } from '../../test/support/http-world';
import { createChatModelProvider } from '../chat/chat-model-provider';
import { buildApp } from './app';

// Every route of the OpenAPI document gets generated bad input: a path that
// names nothing, a query or body of the wrong shape, bad JSON, a foreign
// tenant, a bad token. The server must answer each with a 4xx in the one
// error shape (OpenAI's under /v1; never a 5xx), and write no row, the
// substrate's sessions and messages included. Chat runs on the local model
// server, so a request that slipped through would run a turn and be seen.

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; required?: string[]; enum?: unknown[]; anyOf?: JsonSchema[]; oneOf?: JsonSchema[] };
interface Parameter {
  readonly in: 'path' | 'query' | 'header';
  readonly name: string;
  readonly schema?: JsonSchema;
}
interface Operation {
  readonly parameters?: Parameter[];
  readonly requestBody?: { content?: { 'application/json'?: { schema?: JsonSchema } } };
}
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
const methods: readonly Method[] = ['get', 'post', 'put', 'patch', 'delete'];

/** A request the fuzzer sends. */
interface FuzzRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload?: string;
}

/** A value of a JSON type other than the one `schema` declares (so it cannot validate). */
function wrongTypeValue(schema: JsonSchema | undefined): fc.Arbitrary<unknown> | undefined {
  const type = Array.isArray(schema?.type) ? undefined : schema?.type;
  if (type === 'string') return fc.oneof(fc.integer(), fc.boolean(), fc.constant([1, 2]), fc.constant({ nested: true }));
  if (type === 'integer' || type === 'number') return fc.oneof(fc.string(), fc.boolean(), fc.constant({}), fc.constant(1.5e300 * 10));
  if (type === 'boolean') return fc.oneof(fc.string(), fc.integer());
  if (type === 'object') return fc.oneof(fc.string(), fc.integer(), fc.constant([]));
  if (type === 'array') return fc.oneof(fc.string(), fc.integer(), fc.constant({}));
  if (schema?.enum) return fc.string().filter((value) => !schema.enum?.includes(value));
  return undefined;
}

/** Request bodies `schema` refuses: bad JSON, a non-object, a declared field of the wrong type, or nothing of what it requires. */
function badBody(schema: JsonSchema | undefined): fc.Arbitrary<string> {
  const badJson = fc.constantFrom('{', '{"a":', 'nul', '[1,,2]', '{"slug": "x"', '\u0000');
  const notAnObject = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })).map((value) => JSON.stringify(value));
  const options: fc.Arbitrary<string>[] = [badJson, notAnObject];
  const properties = Object.entries(schema?.properties ?? {});
  const typed = properties.flatMap(([name, property]) => {
    const wrong = wrongTypeValue(property);
    return wrong ? [wrong.map((value) => JSON.stringify({ [name]: value }))] : [];
  });
  if (typed.length > 0) options.push(fc.oneof(...typed));
  if ((schema?.required?.length ?? 0) > 0 || schema?.anyOf || schema?.oneOf) options.push(fc.constant('{}'));
  return fc.oneof(...options);
}

/** A path segment that names nothing that exists (including hostile text). */
const strangeSegment = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.constantFrom('..', '%00', '%2F', 'x'.repeat(300), "' or 1=1 --", '\u202e', '%F0%9F%92%A9', 'null', 'undefined', '-1', '0'),
  fc.stringMatching(/^[a-z_]{3,8}_[A-Za-z0-9]{4,20}$/),
);

type OpenApiDocument = { paths: Record<string, Partial<Record<Method, Operation>>> };

/** The OpenAPI document, read while collecting (one test per route): an app whose database is never reached. */
async function readDocument(): Promise<OpenApiDocument> {
  const db = new Kysely<DataMachineDatabase>({
    dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (kysely) => new PostgresIntrospector(kysely), createQueryCompiler: () => new PostgresQueryCompiler() },
  });
  const app = buildApp({ database: { backend: 'pglite', db, ping: async () => false, close: async () => undefined } });
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApiDocument;
  await app.close();
  return document;
}
const document = await readDocument();
const routes = Object.entries(document.paths).flatMap(([path, operations]) => methods.flatMap((method) => (operations[method] ? [{ path, method, operation: operations[method] }] : [])));

await describeEachDatabase<DataMachineDatabase>('fuzzing every route', (database) => {
  let app: FastifyInstance;
  let context: DataMachineContext;
  /** Names that exist, which a bad request may still use in some parts. */
  let existing: Record<string, string>;
  let token: string;
  let strangerToken: string;

  let model: ModelServer;

  beforeAll(async () => {
    model = await startModelServer({ handler: () => textReply('A turn that should not have run.') });
    ({ app, context } = await startApp(database, { chat: createChatModelProvider({ baseUrl: model.baseURL, apiKey: 'fuzz', defaultModel: 'test-model', maxRetries: 0 }) }));
    const world = await tenantWorld(context, 'fuzz-home');
    token = world.owner.token;
    strangerToken = (await tenantWorld(context, 'fuzz-stranger')).owner.token;
    const agent = world.defaultAgent.slug;
    await app.inject({ method: 'POST', url: `/agents/${agent}/pipelines`, headers: as(token), payload: digestPipeline });
    const flow = (await app.inject({ method: 'POST', url: `/agents/${agent}/flows`, headers: as(token), payload: { pipeline: 'digest', slug: 'daily', name: 'Daily' } })).json() as { id: string };
    const entry = (await app.inject({ method: 'POST', url: `/agents/${agent}/flows/daily/steps/think/queues/prompt`, headers: as(token), payload: { body: 'hello' } })).json() as { id: string };
    const job = await asEngine(database, world.tenant.id, async (trx) => (await createJob(context, trx, { flowId: flow.id, source: 'manual' })).job);
    const tokens = (await app.inject({ method: 'GET', url: '/me/tokens', headers: as(token) })).json() as { tokens: { id: string }[] };
    existing = { agent, pipeline: 'digest', flow: 'daily', stepKey: 'think', queue: 'prompt', entry: entry.id, job: job.id, userId: world.owner.id, id: tokens.tokens[0]?.id ?? 'none' };
  });
  afterAll(async () => {
    await app.close();
    await model.close();
  });

  /** The row count of every product and substrate table, in one statement: a query per table, twice per route, was about half of the tests' time. */
  async function rowCounts(): Promise<Record<string, number>> {
    const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and (table_name like 'dm\\_%' or table_name like 'agents\\_%') order by 1`.execute(database.db);
    const counted = tables.rows.map(({ name }) => sql`select ${name}::text as name, count(*) as count from ${sql.table(name)}`);
    const rows = await sql<{ name: string; count: string }>`${sql.join(counted, sql` union all `)}`.execute(database.db);
    return Object.fromEntries(rows.rows.map(({ name, count }) => [name, Number(count)]));
  }

  /** Generated bad requests for one operation: at least one part of each is wrong. */
  function badRequests(path: string, operation: Operation): fc.Arbitrary<FuzzRequest> {
    const pathParams = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path');
    const queryParams = (operation.parameters ?? []).filter((parameter) => parameter.in === 'query');
    const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
    const hasBody = operation.requestBody !== undefined;
    // Each path parameter: the existing name, or a strange one. Without a bad body, at least one must be strange.
    const params = fc.tuple(...pathParams.map((parameter) => fc.oneof(fc.constant(existing[parameter.name] ?? 'none'), strangeSegment)));
    const query = fc.option(
      fc.oneof(
        fc.constant('fuzz=1'),
        ...queryParams.map((parameter) => (wrongTypeValue(parameter.schema) ?? fc.constant('')).map((value) => `${parameter.name}=${encodeURIComponent(typeof value === 'string' ? value : JSON.stringify(value))}`)),
        fc.constantFrom('limit=0', 'limit=-1', 'limit=abc', 'cursor=%00', 'limit=999999'),
      ),
    );
    const noHeaders: Record<string, string> = {};
    const identity = fc.oneof(
      { weight: 6, arbitrary: fc.constant(as(token)) },
      fc.constant(as(strangerToken, { 'x-tenant': 'fuzz-home' })),
      fc.constant(as('dmpt_not-a-token')),
      fc.constant(noHeaders),
      strangeSegment.map((tenant) => as(token, { 'x-tenant': encodeURIComponent(tenant) })),
    );
    return fc
      .record({ params, query, identity, body: hasBody ? badBody(bodySchema).map((text) => text as string | undefined) : fc.constant(undefined) })
      .filter(({ params: values, body, query: search, identity: headers }) => {
        const anyStrange = values.some((value, index) => value !== (existing[pathParams[index]?.name ?? ''] ?? 'none'));
        const authorized = headers.authorization === `Bearer ${token}` && headers['x-tenant'] === undefined;
        // A request whose only defect is its query may write only where the route takes no query; reads write nothing either way.
        return !authorized || anyStrange || body !== undefined || (search !== null && queryParams.length > 0) || pathParams.length === 0;
      })
      .map(({ params: values, query: search, identity: headers, body }) => {
        let url = path;
        pathParams.forEach((parameter, index) => (url = url.replace(`{${parameter.name}}`, encodeURIComponent(values[index] ?? ''))));
        return { url: search === null ? url : `${url}?${search}`, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { payload: body }) };
      });
  }

  it('covers the automation and identity routes, and counts the rows of every product table', async () => {
    expect(routes.length).toBeGreaterThan(35);
    const counts = await rowCounts();
    expect(Object.keys(counts)).toEqual(expect.arrayContaining(['dm_agents', 'dm_pipelines', 'dm_flows', 'dm_jobs', 'dm_queue_entries', 'dm_user_tokens', 'agents_sessions', 'agents_session_messages']));
    expect(routes.map(({ method, path }) => `${method} ${path}`)).toEqual(expect.arrayContaining(['post /agents/{agent}/chat', 'get /agents/{agent}/chat/sessions', 'post /v1/chat/completions', 'get /v1/models']));
    expect(counts.dm_flows).toBe(1);
  });

  describe.each(routes)('$method $path', ({ path, method, operation }) => {
    it('answers generated bad input with a 4xx in the one error shape, and writes no row', async () => {
      const before = await rowCounts();
      await fc.assert(
        fc.asyncProperty(badRequests(path, operation), async (request) => {
          const response = await app.inject({ method: method.toUpperCase() as Uppercase<Method>, url: request.url, headers: request.headers, ...(request.payload === undefined ? {} : { payload: request.payload }) });
          expect(response.statusCode, `${method.toUpperCase()} ${request.url} ${request.payload ?? ''} -> ${response.body}`).toBeLessThan(500);
          if (response.statusCode >= 400) {
            const shape = path.startsWith('/v1/')
              ? { code: expect.any(String), message: expect.any(String), type: expect.any(String), param: expect.toBeOneOf([null, expect.any(String)]) }
              : { code: expect.any(String), message: expect.any(String) };
            expect(response.json()).toEqual({ error: expect.objectContaining(shape) });
          }
        }),
        { numRuns: 12 },
      );
      expect(await rowCounts()).toEqual(before);
      expect(model.requests).toEqual([]);
    });
  });
});
