import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
// @ts-expect-error http_ece ships no types; it is web-push's own RFC 8188 implementation, used here to decrypt.
import ece from 'http_ece';
import { pushSubscriptions } from '../../approval-web/schema.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { startStack, type Stack } from '../support/harness.ts';

/**
 * Web Push end to end: a request that waits for approval is pushed to the subscribed devices of the approvers who may
 * decide it, encrypted for each subscription (RFC 8291) with a VAPID signature (RFC 8292), carrying only the summary
 * and the link. The push service is played by a stand-in for fetch that records what leaves and decrypts it with the
 * subscription's private key, as a browser would.
 */

const ENDPOINT = 'https://push.example.test/v1/subscription-1';
let stack: Stack;
const sent: { url: string; init: RequestInit }[] = [];
let answer = 201;

beforeAll(async () => {
  // The push service is a stand-in transport; the address checks still run, with push.example.test resolving to a
  // public address (a documentation-free, routable one) as a real push service would.
  const fetch = async (url: string, init: RequestInit) => {
    sent.push({ url, init });
    return new Response(null, { status: answer });
  };
  stack = await startStack({
    config: `notify: { webPush: true }\npolicy:\n  default: deny\n  rules:\n    - id: writes\n      tools: [test_write_note]\n      decision: approve\n`,
    connectors: [createTestConnector()],
    egress: { fetch, resolve: async () => [{ address: '142.250.74.110', family: 4 }] },
  });
});
afterAll(async () => {
  await stack?.close();
});
afterEach(() => {
  sent.length = 0;
  answer = 201;
});

async function subscribe(approverId: string) {
  const device = createECDH('prime256v1');
  device.generateKeys();
  const auth = randomBytes(16);
  const subscription = { endpoint: ENDPOINT, keys: { p256dh: device.getPublicKey('base64url'), auth: auth.toString('base64url') } };
  await stack.services.database.db.insert(pushSubscriptions).values({ endpoint: ENDPOINT, approverId, subscription }).onConflictDoNothing();
  return { device, auth };
}

async function until<T>(read: () => T | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const value = read();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting');
}

describe('Web Push on a pending request', () => {
  it('pushes an encrypted, VAPID-signed notice with only the summary and the link', async () => {
    const owner = await stack.enrollApprover('push-owner@example.com');
    const { agentId } = await stack.addAgent('push-agent', 'push-owner@example.com');
    const { device, auth } = await subscribe(owner.id);
    const view = await stack.submit(agentId, 'test_write_note', { key: 'secret-plan', text: 'the body text must not leave' });
    expect(view.state).toBe('pending');

    const push = await until(() => sent[0]);
    const headers = new Headers(push.init.headers);
    expect(push.url).toBe(ENDPOINT);
    expect(headers.get('content-encoding')).toBe('aes128gcm');
    expect(headers.get('ttl')).toBe('600');

    // The browser's side: decrypt with the subscription's private key and auth secret.
    const body = Buffer.from(push.init.body as Uint8Array);
    const plain = JSON.parse(ece.decrypt(body, { version: 'aes128gcm', privateKey: device, authSecret: auth.toString('base64url') }).toString('utf8'));
    expect(plain).toEqual({ title: 'Approval needed', body: expect.stringContaining('secret-plan'), url: view.approvalUrl });
    expect(JSON.stringify(plain)).not.toContain('the body text must not leave');

    // The push service's side: the VAPID JWT is ES256, for this push service's origin, signed by the server's key.
    const [, token, key] = /^vapid t=([^,]+), k=(.+)$/.exec(headers.get('authorization') ?? '') ?? [];
    expect(decodeProtectedHeader(token!).alg).toBe('ES256');
    const raw = Buffer.from(key!, 'base64url');
    const publicKey = await importJWK({ kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, 'ES256');
    const { payload } = await jwtVerify(token!, publicKey, { audience: 'https://push.example.test' });
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(24 * 3600);
  });

  it('pushes nothing to approvers who may not decide, and forgets a subscription the push service says is gone', async () => {
    const bystander = await stack.enrollApprover('bystander@example.com');
    await stack.services.database.db.delete(pushSubscriptions);
    await subscribe(bystander.id);
    const { agentId } = await stack.addAgent('push-agent-2', 'someone-else@example.com');
    await stack.submit(agentId, 'test_write_note', { key: 'k', text: 't' });
    await new Promise((r) => setTimeout(r, 500));
    expect(sent).toHaveLength(0);

    const owner = await stack.enrollApprover('gone-owner@example.com');
    await stack.services.database.db.delete(pushSubscriptions);
    await subscribe(owner.id);
    answer = 410;
    const mine = await stack.addAgent('push-agent-3', 'gone-owner@example.com');
    await stack.submit(mine.agentId, 'test_write_note', { key: 'k2', text: 't2' });
    await until(() => sent[0]);
    const remaining = async () => (await stack.services.database.db.select().from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, ENDPOINT))).length;
    for (let i = 0; i < 50 && (await remaining()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await remaining()).toBe(0);
  });
});
