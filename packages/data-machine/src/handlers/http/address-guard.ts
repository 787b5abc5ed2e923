import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { HandlerError } from '../handler-error';

/**
 * Whether a handler may connect to `address` (an IP literal) without the
 * tenant's allowance: only globally routable unicast. Loopback, private,
 * link-local (the cloud metadata service at 169.254.169.254), carrier-grade
 * NAT, unique-local, multicast, unspecified, reserved and the IPv6 ranges
 * that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) are refused:
 * ipaddr.js names the range, and anything it does not call `unicast` is out.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // process() turns ::ffff:a.b.c.d into a.b.c.d, so a mapped loopback is judged as loopback.
  return ipaddr.process(address).range() === 'unicast';
}

/** A DNS resolver shaped like `dns.lookup` with `all: true`. */
export type ResolveAll = (hostname: string, options: { all: true; family: number; hints: number }, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * The address rule of a tenant: public addresses always; private ones when
 * `allowPrivateAddresses`, or only those inside `allowedRanges` (CIDR, such as
 * `10.0.0.0/8` for an intranet WordPress), which is narrower.
 */
export interface AddressPolicy {
  readonly allowPrivateAddresses?: boolean;
  readonly allowedRanges?: readonly string[];
}

/** The check {@link AddressPolicy} describes; ipaddr.js throws on a malformed range when the client is created. */
export function createAddressCheck(policy: AddressPolicy): (address: string) => boolean {
  if (policy.allowPrivateAddresses === true) return (address) => ipaddr.isValid(address);
  const ranges = (policy.allowedRanges ?? []).map((range) => ipaddr.parseCIDR(range));
  return (address) => {
    if (isPublicAddress(address)) return true;
    if (!ipaddr.isValid(address)) return false;
    const parsed = ipaddr.process(address);
    return ranges.some(([base, bits]) => base.kind() === parsed.kind() && parsed.match([base, bits]));
  };
}

/** The `handler.address_refused` error for `host` resolving to `address`. */
export function addressRefused(host: string, address: string): HandlerError {
  return new HandlerError(
    'handler.address_refused',
    `Refused to connect to ${host}: ${address} is a private, loopback or link-local address, which this tenant does not allow.`,
    false,
    { details: { host, address } },
  );
}

/**
 * A DNS lookup for `net.connect` that resolves every address of the host and
 * refuses the connection when any of them is not public, so a name with one
 * public and one private record cannot be used to reach the private one.
 * Checking at connect time (not before the request) closes the window in
 * which a re-resolved name could point elsewhere (DNS rebinding).
 */
export function createGuardedLookup(isAllowed: (address: string) => boolean, resolve: ResolveAll = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, family: typeof options.family === 'number' ? options.family : 0, hints: options.hints ?? 0 }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.find((entry) => !isAllowed(entry.address));
      if (refused) return callback(addressRefused(hostname, refused.address), '', 0);
      if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
