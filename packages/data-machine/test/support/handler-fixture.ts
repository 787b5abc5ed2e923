import { createFlow } from '../../src/flows/flow-repository';
import { startHttpFixture, type HttpFixture } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { HandlerContext } from '../../src/handlers/handler';
import { HandlerError } from '../../src/handlers/handler-error';
import { createHandlerHttpClient, type HandlerHttpClient } from '../../src/handlers/http/handler-http-client';
import { createPipeline } from '../../src/pipelines/pipeline-repository';
import type { TestContext } from './identity-fixture';
import { digestStepConfig, digestSteps, flowWorld } from './pipeline-fixture';

/** An HTTP client that may reach the local fixture servers (the tenant allowance tests turn on). */
export function localHttp(): HandlerHttpClient {
  return createHandlerHttpClient({ allowPrivateAddresses: true, timeoutMs: 5_000 });
}

/** A handler call with ids, a silent logger, a fresh signal, and `overrides`. */
export function handlerCall(overrides: Partial<HandlerContext> = {}): HandlerContext {
  return {
    tenantId: 'tenant_1',
    agentId: 'agent_1',
    flowId: 'flow_1',
    jobId: 'job_1',
    stepKey: 'step',
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    signal: new AbortController().signal,
    ...overrides,
  };
}

/** The code and retryability of the HandlerError `promise` rejects with; fails the test when it resolves or throws anything else. */
export async function handlerFailureOf(promise: Promise<unknown>): Promise<{ code: string; retryable: boolean }> {
  try {
    await promise;
  } catch (error) {
    if (HandlerError.isInstance(error)) return { code: error.code, retryable: error.retryable };
    throw error;
  }
  throw new Error('expected a HandlerError');
}

/** A handler call on a real flow (`digest`/`daily` of agent `bot` in a new tenant named by `slug`), for handlers that write rows keyed by flow. */
export async function flowHandlerCall(context: TestContext, slug: string, overrides: Partial<HandlerContext> = {}): Promise<HandlerContext> {
  const world = await flowWorld(context, slug);
  await createPipeline(context, world.owner, world.handlers, 'bot', { slug: 'digest', name: 'Digest', steps: digestSteps });
  const flow = await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'digest', slug: 'daily', name: 'Daily', stepConfig: digestStepConfig });
  return handlerCall({ tenantId: world.tenant.id, agentId: world.agent.id, flowId: flow.id, ...overrides });
}

/** A local fixture server and a client allowed to reach it, for the enclosing suite. */
export interface LocalServer {
  readonly fixture: HttpFixture;
  readonly http: HandlerHttpClient;
}

/**
 * Starts a fixture server and a {@link localHttp} client before the suite,
 * forgets routes and requests before each test, closes both after.
 */
export function useLocalServer(): LocalServer {
  let fixture: HttpFixture | undefined;
  let http: HandlerHttpClient | undefined;
  beforeAll(async () => {
    fixture = await startHttpFixture();
    http = localHttp();
  });
  afterAll(async () => {
    await http?.close();
    await fixture?.close();
  });
  beforeEach(() => fixture?.reset());
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useLocalServer() is read before its suite started');
    return value;
  };
  return {
    get fixture() {
      return started(fixture);
    },
    get http() {
      return started(http);
    },
  };
}
