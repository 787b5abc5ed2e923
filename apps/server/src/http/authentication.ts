import type { FastifyRequest } from 'fastify';
import {
  DataMachineError,
  authenticateBearer,
  findTenant,
  listMyTenants,
  resolveScope,
  type Actor,
  type BearerAuthentication,
  type DataMachineContext,
  type Scope,
} from 'data-machine';
import { HttpError } from './http-error';

/** The header a user names the tenant of a request with (its id or slug). */
export const tenantHeader = 'x-tenant';

const bearerPattern = /^Bearer ([^\s]+)$/i;

/**
 * Who sent the request: the bearer token in `Authorization`, authenticated
 * (`auth.required` when absent or malformed; `token.invalid`, `token.expired`,
 * `token.revoked` otherwise). Authenticated once per request and kept on it.
 */
export async function requestIdentity(context: DataMachineContext, request: FastifyRequest): Promise<BearerAuthentication> {
  const cached = identities.get(request);
  if (cached) return cached;
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? bearerPattern.exec(header) : null;
  // Without an Authorization header, the console's cookie session may stand in (see console-sessions.ts).
  const fallback = header === undefined ? fallbacks.get(request) : undefined;
  if (!match?.[1] && !fallback) throw new HttpError('auth.required', 'Send a personal access token or an agent token as "Authorization: Bearer <token>".');
  const identity = match?.[1] ? await authenticateBearer(context, match[1], 'http') : await (fallback as () => Promise<BearerAuthentication>)();
  identities.set(request, identity);
  return identity;
}

const identities = new WeakMap<FastifyRequest, BearerAuthentication>();
const fallbacks = new WeakMap<FastifyRequest, () => Promise<BearerAuthentication>>();

/**
 * Lets a request without an `Authorization` header authenticate another way
 * (the console's cookie session), through {@link requestIdentity} like a bearer token.
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
  const named = request.headers[tenantHeader];
  return scopeInTenant(context, await requestIdentity(context, request), typeof named === 'string' && named !== '' ? named : undefined);
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
  const memberships = await listMyTenants(context, acting.actor);
  if (ref === undefined) {
    const [only, ...others] = memberships;
    if (!only || others.length > 0) {
      throw new HttpError('tenant.required', `Name the tenant: you belong to ${memberships.length === 0 ? 'none' : memberships.length}.`, {
        tenants: memberships.map((membership) => membership.tenant.slug),
      });
    }
    return resolveScope(context, acting.actor, only.tenant.id);
  }
  const membership = memberships.find((candidate) => candidate.tenant.id === ref || candidate.tenant.slug === ref);
  if (!membership) throw tenantNotFound(ref);
  return resolveScope(context, acting.actor, membership.tenant.id);
}

function tenantNotFound(ref: string): DataMachineError {
  return new DataMachineError('tenant.not_found', `There is no tenant "${ref}".`, { details: { tenant: ref } });
}
