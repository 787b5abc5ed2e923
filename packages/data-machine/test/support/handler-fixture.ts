import type { HandlerContext } from '../../src/handlers/handler';
import { HandlerError } from '../../src/handlers/handler-error';
import { createHandlerHttpClient, type HandlerHttpClient } from '../../src/handlers/http/handler-http-client';

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
