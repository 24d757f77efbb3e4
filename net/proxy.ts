import ipaddr from 'ipaddr.js';
import type { Context, MiddlewareHandler } from 'hono';

/**
 * Who the client is behind a reverse proxy. Throttles and audit lines key on the client's address; behind a proxy the
 * socket's address is the proxy's, and the client's is in a header the proxy appends to. A header is believed only
 * as far as the hops that wrote it are trusted (`trustProxy` in countersign.yaml, as Express's `trust proxy`): starting
 * from the socket, each trusted hop hands over to the address it says it received from, right to left, and the first
 * untrusted address is the client. Off by default: without trusted proxies headers are ignored, so a client that sends
 * its own X-Forwarded-For gains nothing.
 *
 * @example
 * const resolve = clientAddressResolver({ addresses: ['loopback', '10.0.0.0/8'], header: 'x-forwarded-for' });
 * resolve('127.0.0.1', new Headers({ 'x-forwarded-for': '6.6.6.6, 203.0.113.9' })) // '203.0.113.9'
 */

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

export interface TrustProxy {
  /** IP addresses, CIDR ranges, or the names loopback, linklocal and uniquelocal. */
  addresses: string[];
  /** Which header the proxies append to (default X-Forwarded-For; `forwarded` is RFC 7239's `for=`). */
  header?: ForwardedHeader;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** The named ranges, as proxy-addr (Express) names them. */
const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Why one `trustProxy` entry is unusable, or null: for the config loader's message. */
export function trustEntryProblem(entry: string): string | null {
  try {
    parseRange(entry);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

function parseRange(entry: string): Range[] {
  const named = NAMED[entry.toLowerCase()];
  if (named) return named.flatMap(parseRange);
  if (entry.includes('/')) {
    if (!ipaddr.isValidCIDR(entry)) throw new Error(`"${entry}" is not a CIDR range such as 10.0.0.0/8 or fd00::/8`);
    const [address, bits] = ipaddr.parseCIDR(entry);
    return [[plain(address), address.kind() === 'ipv6' && plain(address).kind() === 'ipv4' ? bits - 96 : bits]];
  }
  if (!ipaddr.isValid(entry)) throw new Error(`"${entry}" is not an IP address, a CIDR range, or one of loopback, linklocal, uniquelocal`);
  const address = plain(ipaddr.parse(entry));
  return [[address, address.kind() === 'ipv4' ? 32 : 128]];
}

/** `::ffff:10.0.0.1` is 10.0.0.1: Node reports IPv4 clients that way on dual-stack sockets. */
function plain(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/** An address from a header: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `"[::1]"`; null when it is none of these. */
function parseHop(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  let hop = text.trim().replace(/^"(.*)"$/, '$1');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) hop = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(hop)) hop = hop.slice(0, hop.lastIndexOf(':'));
  return ipaddr.isValid(hop) ? plain(ipaddr.parse(hop)) : null;
}

/** The hops a header lists, leftmost (farthest) first. */
function hopsIn(headers: Headers, header: ForwardedHeader): string[] {
  const value = headers.get(header);
  if (!value) return [];
  if (header === 'x-forwarded-for') return value.split(',');
  // RFC 7239: elements separated by commas, pairs by semicolons; only for= names a hop.
  return value.split(',').map((element) => /(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)/i.exec(element)?.[1] ?? '');
}

/** Resolves the client's address from the socket's and the request headers, believing only trusted hops. */
export function clientAddressResolver(trust: TrustProxy | undefined): (socketAddress: string | undefined, headers: Headers) => string {
  const ranges = (trust?.addresses ?? []).flatMap(parseRange);
  const header = trust?.header ?? 'x-forwarded-for';
  const trusted = (address: ipaddr.IPv4 | ipaddr.IPv6) => ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range as never, bits));
  if (ranges.length === 0) {
    // No proxy is trusted, so the answer is the socket's address alone: parsed once per address, not per request.
    const seen = new Map<string, string>();
    return (socketAddress) => {
      if (!socketAddress) return 'unknown';
      let resolved = seen.get(socketAddress);
      if (resolved === undefined) {
        resolved = parseHop(socketAddress)?.toString() ?? socketAddress;
        if (seen.size >= 10_000) seen.clear();
        seen.set(socketAddress, resolved);
      }
      return resolved;
    };
  }
  return (socketAddress, headers) => {
    if (!socketAddress) return 'unknown';
    let current = parseHop(socketAddress);
    if (!current) return socketAddress;
    const hops = hopsIn(headers, header);
    while (trusted(current) && hops.length > 0) {
      const next = parseHop(hops.pop()!);
      // A hop a trusted proxy wrote that is not an address: stop at the proxy (a shared key throttles more, never less).
      if (!next) break;
      current = next;
    }
    return current.toString();
  };
}

/** The socket's address as Node reports it (@hono/node-server puts the IncomingMessage in `c.env.incoming`). */
function socketAddress(c: Context): string | undefined {
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}

const RESOLVED = 'countersign.clientAddress';

/** Resolves the client's address once per request, before any route; `clientAddress(c)` reads it. */
export function clientAddressMiddleware(trust: TrustProxy | undefined): MiddlewareHandler {
  const resolve = clientAddressResolver(trust);
  return async (c, next) => {
    c.set(RESOLVED as never, resolve(socketAddress(c), c.req.raw.headers) as never);
    await next();
  };
}

/** The client's address for throttle keys and audit lines: resolved by the middleware, else the socket's. */
export function clientAddress(c: Context): string {
  return (c.get(RESOLVED as never) as string | undefined) ?? socketAddress(c) ?? 'unknown';
}
