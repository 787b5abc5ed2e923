import { z } from 'zod';

/** Who authenticated the action. */
export const authSources = ['user', 'token', 'runtime', 'system'] as const;
export type AuthSource = (typeof authSources)[number];

/** Where the action came from. */
export const requestContexts = ['http', 'cli', 'schedule', 'chat'] as const;
export type RequestContext = (typeof requestContexts)[number];

/** How deep agents may call agents. */
export const maxCallerChainDepth = 16;

/**
 * What this acting context may ever do, whatever the acting user was
 * granted: `allowed` is a list or `'unrestricted'`, and `denied` always wins.
 */
export const capabilityCeilingSchema = z.object({
  allowed: z.union([z.literal('unrestricted'), z.array(z.string().min(1)).readonly()]),
  denied: z.array(z.string().min(1)).readonly(),
});
export type CapabilityCeiling = z.infer<typeof capabilityCeilingSchema>;

/**
 * The acting context of an operation: passed explicitly to everything that
 * authorizes, never held in shared state.
 * - `userId`: the acting user, or null for a system actor.
 * - `tenantId`: the tenant acted in, or null outside any tenant; the same id
 *   as a session owner's and a memory scope's `tenantId`.
 * - `agentSlug`: the agent acting.
 * - `tokenId`: the agent token used, when `authSource` is `token`.
 * - `callerChain`: the agents that called into this one, outermost first
 *   (at most {@link maxCallerChainDepth}).
 */
export const principalSchema = z.object({
  userId: z.string().min(1).nullable(),
  tenantId: z.string().min(1).nullable(),
  agentSlug: z.string().min(1),
  authSource: z.enum(authSources),
  requestContext: z.enum(requestContexts),
  tokenId: z.string().min(1).nullable(),
  ceiling: capabilityCeilingSchema,
  callerChain: z.array(z.string().min(1)).max(maxCallerChainDepth).readonly(),
});
export type Principal = z.infer<typeof principalSchema>;
