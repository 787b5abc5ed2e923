import type { FastifyInstance, FastifyRequest, onResponseHookHandler, onSendHookHandler } from 'fastify';
import {
  DataMachineError,
  findTenant,
  listMyTenants,
  resolveBearerAccess,
  resolveScope,
  type AccessOutcome,
  type Action,
  type Actor,
  type Agent,
  type BearerAccess,
  type BearerAuthentication,
  type BearerTenantCandidates,
  type DataMachineContext,
  type Scope,
  type TenantMembershipRef,
} from 'data-machine';
import { HttpError } from './http-error';
import { pathReferenceSchema } from './routes/schemas';

/** The header a user names the tenant of a request with (its id or slug). */
export const tenantHeader = 'x-tenant';

const bearerPattern = /^Bearer ([^\s]+)$/i;

/**
 * An agent a route acts on, named by one of its path parameters: set as the
 * route's `config.agentAccess`, it is decided and read with the request's
 * authentication (see {@link requestAgent}).
 */
export interface AgentAccessConfig {
  /** The path parameter naming the agent (its id or slug). */
  readonly param: string;
  readonly action: Action;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** See {@link AgentAccessConfig}. */
    agentAccess?: AgentAccessConfig;
    /** The route writes none of the tables the change-fed caches keep (access, memory files; a chat turn): its completion leaves them as they are (see {@link registerAccessCacheInvalidation}). */
    accessUnchanged?: true;
  }
}

const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Empties the context's change-fed caches (access, memory prompts) when a
 * request that may write (anything but GET, HEAD, OPTIONS) ends, before its
 * response is sent and again when it is done (a streamed body may write after
 * its start), unless its route is marked `accessUnchanged`. So a revocation
 * or a memory file saved over this process's HTTP API holds for the very next
 * request, without waiting for the database's notification (which covers
 * every other writer). See docs/decisions/2026-12-01-access-cache.md.
 */
export function registerAccessCacheInvalidation(app: FastifyInstance, context: DataMachineContext): void {
  const caches = [context.accessCache, context.memoryPromptCache].filter((cache) => cache !== undefined);
  if (caches.length === 0) return;
  const invalidate = (method: string) => {
    if (!readMethods.has(method)) for (const cache of caches) cache.invalidate();
  };
  const invalidateOnSend: onSendHookHandler = (request, _reply, payload, done) => {
    invalidate(request.method);
    done(null, payload);
  };
  const invalidateOnResponse: onResponseHookHandler = (request, _reply, done) => {
    invalidate(request.method);
    done();
  };
  // Added to the routes that may write only, so a read pays for no hook at all.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((method) => readMethods.has(method)) || route.config?.accessUnchanged === true) return;
    route.onSend = [...hookList(route.onSend), invalidateOnSend];
    route.onResponse = [...hookList(route.onResponse), invalidateOnResponse];
  });
}

function hookList<Hook>(hooks: Hook | Hook[] | undefined): Hook[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}

/**
 * Everything the request's bearer token gives, resolved once per request in
 * one transaction (`resolveBearerAccess`, see
 * docs/decisions/2026-12-01-request-path-speed.md): who it is, the scope of
 * its tenant (`x-tenant`, the user's only tenant, or an agent token's own)
 * and, for a route with `config.agentAccess`, the agent it acts on. The first
 * caller (the rate limit's `onRequest`) starts it; every later one shares it.
 */
function requestAccess(context: DataMachineContext, request: FastifyRequest): Promise<BearerAccess> {
  let access = accesses.get(request);
  if (access === undefined) {
    access = resolveRequestAccess(context, request);
    // Shared by every caller of this request; one that never awaits it must not leave it unhandled.
    access.catch(() => undefined);
    accesses.set(request, access);
  }
  return access;
}

const accesses = new WeakMap<FastifyRequest, Promise<BearerAccess>>();

async function resolveRequestAccess(context: DataMachineContext, request: FastifyRequest): Promise<BearerAccess> {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? bearerPattern.exec(header) : null;
  const named = request.headers[tenantHeader];
  const tenantRef = typeof named === 'string' && named !== '' ? named : undefined;
  if (!match?.[1]) {
    // Without an Authorization header, the console's cookie session may stand in (see console-sessions.ts);
    // its scope is resolved on its own, and routes decide their agent through the product's functions.
    const fallback = header === undefined ? fallbacks.get(request) : undefined;
    if (!fallback) throw new HttpError('auth.required', 'Send a personal access token or an agent token as "Authorization: Bearer <token>".');
    const identity = await fallback();
    const scope = await scopeInTenant(context, identity, tenantRef).then(
      (value): AccessOutcome<Scope> => ({ ok: true, value }),
      (error: unknown): AccessOutcome<Scope> => ({ ok: false, error }),
    );
    return { identity, scope };
  }
  const agent = routeAgent(request);
  return resolveBearerAccess(context, { secret: match[1], channel: 'http', tenantRef, chooseTenant: (candidates) => chooseTenant(candidates, tenantRef), agent });
}

/** The agent named by the route's `config.agentAccess` parameter, when it is a reference a route accepts (its own validation refuses the rest). */
function routeAgent(request: FastifyRequest): { ref: string; action: Action } | undefined {
  const config = request.routeOptions.config.agentAccess;
  if (config === undefined) return undefined;
  const ref = (request.params as Record<string, unknown> | undefined)?.[config.param];
  return typeof ref === 'string' && pathReferenceSchema.safeParse(ref).success ? { ref, action: config.action } : undefined;
}

/**
 * Who sent the request: the bearer token in `Authorization`, authenticated
 * (`auth.required` when absent or malformed; `token.invalid`, `token.expired`,
 * `token.revoked` otherwise). Authenticated once per request and kept on it.
 */
export async function requestIdentity(context: DataMachineContext, request: FastifyRequest): Promise<BearerAuthentication> {
  return (await requestAccess(context, request)).identity;
}

const fallbacks = new WeakMap<FastifyRequest, () => Promise<BearerAuthentication>>();

/**
 * Lets a request without an `Authorization` header authenticate another way
 * (the console's cookie session), through {@link requestIdentity} like a
 * bearer token. Register it before the request's access is first asked for
 * (an `onRequest` hook added before the rate limit's).
 */
export function authenticateRequestWith(request: FastifyRequest, authenticate: () => Promise<BearerAuthentication>): void {
  fallbacks.set(request, authenticate);
}

/** The acting principal of the request. */
export async function requestActor(context: DataMachineContext, request: FastifyRequest): Promise<Actor> {
  return (await requestIdentity(context, request)).actor;
}

/**
 * The scope of a request: the tenant it acts in and the actor's rights there
 * (see {@link scopeInTenant}); the tenant is named by the `x-tenant` header.
 */
export async function requestScope(context: DataMachineContext, request: FastifyRequest): Promise<Scope> {
  return settled((await requestAccess(context, request)).scope);
}

/**
 * The agent of a route with `config.agentAccess`, with the scope: the route's
 * action on it decided on the rights read with the authentication. Refused
 * as the product refuses (`agent.not_found` for a missing or invisible one,
 * `access.denied`). Undefined when the route names no agent it can look up
 * (then the route decides through the product's own functions).
 */
export async function requestAgent(context: DataMachineContext, request: FastifyRequest): Promise<{ readonly scope: Scope; readonly agent: Agent } | undefined> {
  const access = await requestAccess(context, request);
  const scope = settled(access.scope);
  return access.agent === undefined ? undefined : { scope, agent: settled(access.agent) };
}

function settled<T>(outcome: AccessOutcome<T>): T {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Who acts, as the HTTP API (a bearer token) and the CLI (also `--as <email>` or `--as system`) establish it. */
export type Acting =
  | BearerAuthentication
  | { readonly kind: 'named_user'; readonly actor: Extract<Actor, { kind: 'user' }> }
  | { readonly kind: 'system'; readonly actor: Extract<Actor, { kind: 'system' }> };

/**
 * The scope an actor acts in. An agent token acts in its own tenant. A user
 * names the tenant (id or slug), or may leave it out when they belong to
 * exactly one; otherwise `tenant.required`. A tenant the user does not belong
 * to is `tenant.not_found`, exactly like one that does not exist. The system
 * principal must name one.
 */
export async function scopeInTenant(context: DataMachineContext, acting: Acting, ref: string | undefined): Promise<Scope> {
  if (acting.kind === 'system') {
    if (ref === undefined) throw new HttpError('tenant.required', 'Name the tenant the system principal acts in.');
    const tenant = await findTenant(context, ref);
    if (!tenant) throw tenantNotFound(ref);
    return resolveScope(context, acting.actor, tenant.id);
  }
  if (acting.kind === 'agent_token') {
    if (ref !== undefined) {
      const tenant = await findTenant(context, ref);
      if (tenant?.id !== acting.tenantId) throw tenantNotFound(ref);
    }
    return resolveScope(context, acting.actor, acting.tenantId);
  }
  const memberships = (await listMyTenants(context, acting.actor)).map(({ tenant, role }) => ({ tenantId: tenant.id, slug: tenant.slug, role }));
  return resolveScope(context, acting.actor, userTenant(memberships, ref));
}

/**
 * The tenant of a request with a bearer token, by the rules of
 * {@link scopeInTenant}: an agent token's own (a named other one is
 * `tenant.not_found`); a user's named one, or their only one.
 */
export function chooseTenant({ identity, memberships, named }: BearerTenantCandidates, ref: string | undefined): string {
  if (identity.kind === 'agent_token') {
    if (ref !== undefined && named?.tenantId !== identity.tenantId) throw tenantNotFound(ref);
    return identity.tenantId;
  }
  return userTenant(memberships, ref);
}

/** A user's tenant: the one named (by id or slug) among theirs, or their only one; `tenant.required` when they have several or none. */
function userTenant(memberships: readonly TenantMembershipRef[], ref: string | undefined): string {
  if (ref === undefined) {
    const [only, ...others] = memberships;
    if (!only || others.length > 0) {
      throw new HttpError('tenant.required', `Name the tenant: you belong to ${memberships.length === 0 ? 'none' : memberships.length}.`, {
        tenants: memberships.map((membership) => membership.slug),
      });
    }
    return only.tenantId;
  }
  const membership = memberships.find((candidate) => candidate.tenantId === ref || candidate.slug === ref);
  if (!membership) throw tenantNotFound(ref);
  return membership.tenantId;
}

function tenantNotFound(ref: string): DataMachineError {
  return new DataMachineError('tenant.not_found', `There is no tenant "${ref}".`, { details: { tenant: ref } });
}
