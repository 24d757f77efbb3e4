import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress } from '../../net/address.ts';
import { EgressRefused, checkDestination, egressFetch, type Resolver } from '../../net/egress.ts';
import { failureThrottle } from '../../net/throttle.ts';

// net/: where server-side requests may go. The server below stands for anything on the local network an attacker
// would aim at (a database, cloud metadata); a test passes only if it was never connected to.

describe('classifyAddress', () => {
  const notPublic = [
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], ['100.64.0.1', 'carrierGradeNat'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'], ['198.18.0.1', 'reserved'], ['::1', 'loopback'], ['::', 'unspecified'], ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'], ['ff02::1', 'multicast'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'linkLocal'], ['[::ffff:10.0.0.1]', 'private'], ['64:ff9b::7f00:1', 'loopback'], ['2002:c0a8:0101::1', 'private'],
    ['2001:db8::1', 'reserved'], ['::127.0.0.1', 'loopback'], ['::808:808', 'IPv4-compatible (deprecated)'], ['fe80::1%eth0', 'linkLocal'], ['example.com', 'not an IP address'],
  ] as const;
  it.each(notPublic)('%s is not public (%s)', (address, range) => {
    expect(classifyAddress(address)).toMatchObject({ public: false, range });
  });
  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('%s is public', (address) => {
    expect(classifyAddress(address).public).toBe(true);
  });
});

describe('egress', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/redirect') return res.writeHead(302, { location: `http://127.0.0.1:${port}/followed` }).end();
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const resolveTo = (address: string): Resolver => async () => [{ address, family: address.includes(':') ? 6 : 4 }];
  const refused = async (run: Promise<unknown>, pattern: RegExp) => {
    const error = await run.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(EgressRefused);
    expect((error as Error).message).toMatch(pattern);
  };

  it('refuses plain http, loopback literals, metadata and names that resolve inside, before connecting', async () => {
    const send = egressFetch({ what: 'push endpoint' });
    await refused(send(`http://93.184.215.14/`), /must use https/);
    await refused(send(`https://127.0.0.1:${port}/`), /127\.0\.0\.1 \(loopback\)/);
    await refused(send('https://169.254.169.254/latest/meta-data/'), /linkLocal/);
    await refused(send(`https://[::ffff:127.0.0.1]:${port}/`), /loopback/);
    await refused(send(`https://localhost:${port}/`), /resolves to .*(127\.0\.0\.1|::1)/);
    await refused(egressFetch({ what: 'webhook', resolve: resolveTo('10.0.0.7') })('https://hooks.internal.example/x'), /allowPrivateNetwork: true/);
    await refused(checkDestination('https://user:pw@example.com/', { what: 'webhook' }), /user name or password/);
    expect(hits).toEqual([]);
  });

  it('checks at connect time: a name that resolved public at registration and private later (DNS rebinding) is never connected to', async () => {
    let calls = 0;
    const rebinding: Resolver = async () => [{ address: calls++ === 0 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
    const policy = { what: 'push endpoint', resolve: rebinding };
    await expect(checkDestination(`https://push.rebind.example:${port}/sub`, policy)).resolves.toBeInstanceOf(URL);
    await refused(egressFetch(policy)(`https://push.rebind.example:${port}/sub`, { method: 'POST' }), /127\.0\.0\.1 \(loopback\)/);
    expect(calls).toBe(2);
    expect(hits).toEqual([]);
  });

  it('with allowPrivateNetwork reaches the local network, still without following redirects', async () => {
    const send = egressFetch({ what: 'webhook', allowPrivateNetwork: true });
    const ok = await send(`http://127.0.0.1:${port}/hook`, { method: 'POST', body: '{}' });
    expect(ok.status).toBe(200);
    const redirected = await send(`http://127.0.0.1:${port}/redirect`, { method: 'POST', body: '{}' });
    expect(redirected.status).toBe(302);
    expect(hits).toEqual(['/hook', '/redirect']);
  });
});

describe('failureThrottle', () => {
  it('blocks a key after max failures in the window, says how long, and forgets old failures', () => {
    let t = 0;
    const throttle = failureThrottle({ max: 3, windowSeconds: 60, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(throttle.blocked('a')).toBe(0);
      throttle.failed('a');
      t += 1000;
    }
    expect(throttle.blocked('a')).toBe(57);
    expect(throttle.blocked('b')).toBe(0);
    t = 61_000;
    expect(throttle.blocked('a')).toBe(0);
  });

  it('remembers at most maxKeys keys', () => {
    const throttle = failureThrottle({ max: 1, windowSeconds: 60, maxKeys: 2 });
    ['a', 'b', 'c'].forEach((key) => throttle.failed(key));
    expect([throttle.blocked('a'), throttle.blocked('b') > 0, throttle.blocked('c') > 0]).toEqual([0, true, true]);
  });
});
