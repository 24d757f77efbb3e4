import { describe, expect, it } from 'vitest';
import { clientAddressResolver, trustEntryProblem } from '../../net/proxy.ts';
import { parseConfig } from '../../gateway/config.ts';

/** Who the client is behind a reverse proxy: headers believed only as far as trusted hops wrote them. */

const xff = (value: string) => new Headers({ 'x-forwarded-for': value });

describe('client address behind proxies', () => {
  it('ignores forwarding headers when no proxy is trusted (the default)', () => {
    const resolve = clientAddressResolver(undefined);
    expect(resolve('203.0.113.9', xff('1.1.1.1'))).toBe('203.0.113.9');
    expect(resolve('::ffff:127.0.0.1', xff('1.1.1.1'))).toBe('127.0.0.1');
    expect(resolve(undefined, xff('1.1.1.1'))).toBe('unknown');
    // Remembered per socket address: the same answers again, whatever the headers say.
    expect(resolve('::ffff:127.0.0.1', xff('9.9.9.9'))).toBe('127.0.0.1');
    expect(resolve('not an address', xff('1.1.1.1'))).toBe('not an address');
    expect(resolve('not an address', new Headers())).toBe('not an address');
  });

  it('takes the rightmost address a trusted hop received from; what the client wrote to the left changes nothing', () => {
    const resolve = clientAddressResolver({ addresses: ['loopback', '10.0.0.0/8'] });
    expect(resolve('127.0.0.1', xff('203.0.113.9'))).toBe('203.0.113.9');
    // The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the address it saw.
    expect(resolve('127.0.0.1', xff('6.6.6.6, 203.0.113.9'))).toBe('203.0.113.9');
    // Two proxies of ours: the edge at 10.1.2.3 saw the client, the local one saw the edge.
    expect(resolve('::ffff:127.0.0.1', xff('6.6.6.6, 203.0.113.9, 10.1.2.3'))).toBe('203.0.113.9');
    // A client that claims a trusted address still stops at the first untrusted hop.
    expect(resolve('127.0.0.1', xff('10.9.9.9, 203.0.113.9'))).toBe('203.0.113.9');
    // A client reaching the server directly (not through a trusted proxy) is its socket address, whatever it sends.
    expect(resolve('198.51.100.7', xff('203.0.113.9'))).toBe('198.51.100.7');
    // Every hop trusted: the leftmost is the best we know. Ports and brackets are dropped; garbage stops at the proxy.
    expect(resolve('127.0.0.1', xff('10.0.0.5'))).toBe('10.0.0.5');
    expect(resolve('127.0.0.1', xff('[2001:db8::1]:4711'))).toBe('2001:db8::1');
    expect(resolve('127.0.0.1', xff('203.0.113.9:5000'))).toBe('203.0.113.9');
    expect(resolve('127.0.0.1', xff('unknown'))).toBe('127.0.0.1');
    expect(resolve('127.0.0.1', new Headers())).toBe('127.0.0.1');
  });

  it('reads RFC 7239 Forwarded only when configured, and then ignores X-Forwarded-For', () => {
    const resolve = clientAddressResolver({ addresses: ['127.0.0.1'], header: 'forwarded' });
    const headers = new Headers({ forwarded: 'for=6.6.6.6, for="[2001:db8::7]:443";proto=https', 'x-forwarded-for': '1.1.1.1' });
    expect(resolve('127.0.0.1', headers)).toBe('2001:db8::7');
    expect(clientAddressResolver({ addresses: ['127.0.0.1'] })('127.0.0.1', headers)).toBe('1.1.1.1');
  });

  it('config: a list or {addresses, header}; a bad entry names itself', () => {
    const policy = 'policy: {}\n';
    expect(parseConfig(`trustProxy: [loopback, 10.0.0.0/8, "::1"]\n${policy}`, 'cs.yaml', {}).trustProxy).toEqual({ addresses: ['loopback', '10.0.0.0/8', '::1'] });
    expect(parseConfig(`trustProxy: {addresses: [uniquelocal], header: forwarded}\n${policy}`, 'cs.yaml', {}).trustProxy).toEqual({ addresses: ['uniquelocal'], header: 'forwarded' });
    expect(parseConfig(policy, 'cs.yaml', {}).trustProxy).toBeUndefined();
    expect(() => parseConfig(`trustProxy: [loopback, 10.0.0.0/33]\n${policy}`, 'cs.yaml', {})).toThrow(
      'cs.yaml:1:24: trustProxy[1] must be an IP address, a CIDR range such as 10.0.0.0/8, or loopback, linklocal or uniquelocal, got "10.0.0.0/33"',
    );
    expect(() => parseConfig(`trustProxy: yes\n${policy}`, 'cs.yaml', {})).toThrow(/cs\.yaml:1:13: trustProxy must be a list of the reverse proxies/);
    expect(trustEntryProblem('proxy.example.com')).toMatch(/not an IP address/);
  });
});
