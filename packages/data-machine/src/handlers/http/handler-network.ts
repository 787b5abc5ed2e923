import { createHandlerHttpClient, type HandlerHttpClient, type HandlerHttpOptions } from './handler-http-client';

/**
 * The HTTP clients a host hands its steps, one per address rule: the guarded
 * client for tenants without the allowance, and one that reaches private
 * addresses for tenants whose operator allows them
 * (`Tenant.allowPrivateAddresses`). Every handler call takes the client of
 * its own tenant, so one tenant's allowance never opens the network to another.
 */
export interface HandlerNetwork {
  /** The client for a call of a tenant that does (`true`) or does not allow private addresses. */
  clientFor(allowPrivateAddresses: boolean): HandlerHttpClient;
  /** Closes both clients' pooled connections. */
  close(): Promise<void>;
}

/** Options of {@link createHandlerNetwork}: those of the clients, with the server-wide override instead of a per-client allowance. */
export interface HandlerNetworkOptions extends Omit<HandlerHttpOptions, 'allowPrivateAddresses'> {
  /**
   * Every tenant may reach private addresses, whatever its own setting: a
   * development server or tests next to local services. Default false.
   */
  readonly allowPrivateAddressesForEveryTenant?: boolean;
}

/**
 * Builds the {@link HandlerNetwork}. The client that reaches private
 * addresses is created on first use, so a server none of whose tenants has
 * the allowance holds no second connection pool.
 *
 * @example
 * const network = createHandlerNetwork({ allowPrivateAddressesForEveryTenant: config.handlersAllowPrivateAddresses });
 * const steps = createHandlerSteps(handlers, { http: network, secrets });
 */
export function createHandlerNetwork(options: HandlerNetworkOptions = {}): HandlerNetwork {
  const { allowPrivateAddressesForEveryTenant = false, ...clientOptions } = options;
  const guarded = createHandlerHttpClient({ ...clientOptions, allowPrivateAddresses: allowPrivateAddressesForEveryTenant });
  let open: HandlerHttpClient | undefined = allowPrivateAddressesForEveryTenant ? guarded : undefined;
  return {
    clientFor(allowPrivateAddresses) {
      if (!allowPrivateAddresses) return guarded;
      open ??= createHandlerHttpClient({ ...clientOptions, allowPrivateAddresses: true });
      return open;
    },
    async close() {
      await guarded.close();
      if (open !== undefined && open !== guarded) await open.close();
    },
  };
}

/**
 * What steps reach the network through: a {@link HandlerNetwork}, which picks
 * the client by the call's tenant, or one client that every tenant shares
 * (it alone decides what is reachable: tests against local fixtures).
 */
export type HandlerHttp = HandlerNetwork | HandlerHttpClient;

/** The client of `http` for a call of a tenant that does or does not allow private addresses. */
export function httpForTenant(http: HandlerHttp, allowPrivateAddresses: boolean): HandlerHttpClient {
  return 'clientFor' in http ? http.clientFor(allowPrivateAddresses) : http;
}
