import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses a server-side request may reach. Only globally routable unicast is public; everything an
 * attacker would aim an SSRF at is not: loopback, RFC 1918, link-local (cloud metadata at 169.254.169.254), CGNAT,
 * unique-local, multicast, reserved and documentation ranges. IPv6 forms that carry an IPv4 address (mapped
 * `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address inside them, so
 * `::ffff:127.0.0.1` is loopback. Range names come from ipaddr.js, a maintained table of IANA special ranges.
 */

export type AddressVerdict = { public: true; address: string } | { public: false; address: string; range: string };

/** Classifies one IP literal (v4 or v6, brackets allowed). Anything that does not parse is not public. */
export function classifyAddress(literal: string): AddressVerdict {
  const text = literal.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(text)) return { public: false, address: literal, range: 'not an IP address' };
  let parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv6') {
    const embedded = embeddedIPv4(parsed as ipaddr.IPv6);
    if (embedded) parsed = embedded;
  }
  const range = parsed.range();
  if (range === 'unicast' && !(parsed.kind() === 'ipv6' && deprecatedCompatible(parsed as ipaddr.IPv6))) return { public: true, address: parsed.toString() };
  return { public: false, address: parsed.toString(), range: range === 'unicast' ? 'IPv4-compatible (deprecated)' : range };
}

/** The IPv4 address an IPv6 address stands for, when it is one of the translation forms. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const p = address.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  // RFC 6052 well-known NAT64 prefix 64:ff9b::/96 (the local-use 64:ff9b:1::/48 stays non-public).
  if (p[0] === 0x64 && p[1] === 0xff9b && p.slice(2, 6).every((x) => x === 0)) return v4(p[6]!, p[7]!);
  // RFC 3056 6to4: 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD.
  if (p[0] === 0x2002) return v4(p[1]!, p[2]!);
  return null;
}

/** `::a.b.c.d` (RFC 4291's deprecated IPv4-compatible form): never a legitimate destination. */
function deprecatedCompatible(address: ipaddr.IPv6): boolean {
  return address.parts.slice(0, 6).every((x) => x === 0);
}

/** True when `host` (a URL hostname) is an IP literal rather than a name to resolve. */
export function isIpLiteral(host: string): boolean {
  return ipaddr.isValid(host.replace(/^\[|\]$/g, ''));
}
