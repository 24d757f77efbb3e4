import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/harness.ts';
import { createPassportKey, pairingGuess } from '../support/passport-key.ts';
import { auditEntries } from '../support/web-session.ts';

/**
 * Behind a reverse proxy (trustProxy): the throttles key on the client the trusted proxy names, so clients behind one
 * proxy do not share one budget, and no client evades a throttle by writing its own X-Forwarded-For, with trustProxy
 * on (the proxy's rightmost entry counts) or off (the header is ignored).
 */

const POLICY = 'policy:\n  default: deny\n';
let direct: Stack;
let proxied: Stack;
let jwk: JsonWebKey;

beforeAll(async () => {
  [direct, proxied] = await Promise.all([startStack({ config: POLICY }), startStack({ config: `trustProxy: [loopback]\n${POLICY}` })]);
  jwk = (await createPassportKey()).publicJwk as JsonWebKey;
}, 180_000);
afterAll(async () => {
  await Promise.all([direct?.close(), proxied?.close()]);
});

const guess = (stack: Stack, forwarded: string) => pairingGuess(stack.listenUrl, forwarded, jwk);

describe('trustProxy', () => {
  it('off (the default): a client writing a new X-Forwarded-For on every guess is still throttled on its socket address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push(await guess(direct, `198.51.100.${i}`));
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses[10]).toBe(429);
  });

  it('on: the client a trusted proxy names gets its own budget, and what the client wrote to the left of it changes nothing', async () => {
    // Behind the proxy (loopback), the client 203.0.113.7 sends its own X-Forwarded-For; the proxy appends the address it saw.
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push(await guess(proxied, `198.51.100.${i}, 203.0.113.7`));
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses[10]).toBe(429);
    // Another client behind the same proxy is not throttled with it.
    expect(await guess(proxied, '203.0.113.8')).toBe(400);
    const [entry] = await auditEntries(proxied, 'edge.refused.throttled');
    expect(JSON.stringify(entry!.data)).toContain('pairing code from 203.0.113.7');
  });

  it('on: agent-token guesses on /mcp key on the forwarded client too', async () => {
    const post = (forwarded: string, i: number) =>
      fetch(`${proxied.listenUrl}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer guess-${i}`, 'x-forwarded-for': forwarded },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      }).then(async (res) => (await res.body?.cancel(), res.status));
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push(await post(`10.0.${i}.1, 203.0.113.20`, i));
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses[30]).toBe(429);
    expect(await post('203.0.113.21', 99)).toBe(401);
  });
});
