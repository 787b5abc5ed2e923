import type { Actor, ActorChannel } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { authenticateAgentToken } from './agent-token-repository';
import { agentTokenPrefix, userTokenPrefix } from './token-secret';
import { authenticateUserToken } from './user-token-repository';

/** Who a bearer secret is: a user (any tenant they belong to) or an agent token (its one tenant). */
export type BearerAuthentication =
  | { readonly kind: 'user'; readonly actor: Extract<Actor, { kind: 'user' }>; readonly tokenId: string }
  | { readonly kind: 'agent_token'; readonly actor: Extract<Actor, { kind: 'token' }>; readonly tenantId: string };

/**
 * Authenticates a bearer secret by its prefix: `dmpt_` is a personal access
 * token, `dmat_` an agent token; anything else is `token.invalid`, as is an
 * unknown secret. Revoked and expired tokens are `token.revoked` and `token.expired`.
 */
export async function authenticateBearer(context: DataMachineContext, secret: string, channel: ActorChannel): Promise<BearerAuthentication> {
  if (secret.startsWith(userTokenPrefix)) {
    const { actor, tokenId } = await authenticateUserToken(context, secret, channel);
    return { kind: 'user', actor, tokenId };
  }
  if (secret.startsWith(agentTokenPrefix)) {
    const { actor, tenantId } = await authenticateAgentToken(context, secret, channel);
    return { kind: 'agent_token', actor, tenantId };
  }
  throw new DataMachineError('token.invalid', 'The token is not valid.');
}
