import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { approvalSigningBytes } from '../../kernel/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPairingCode } from '../../approval-web/index.ts';
import { INITIALIZE, rawPost } from '../support/mcp-client.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createPassportKey } from '../support/passport-key.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { auditEntries, signedIn, type WebClient } from '../support/web-session.ts';

/**
 * Least privilege for people, each rule per role, through the web app as a signed-in browser uses it: an approver
 * sees the requests they may decide (and decided), the owner sees their agents' requests, the auditor sees everything
 * and the audit trail, and anyone else learns nothing (not found). Then the guessing throttles, one device key per
 * approver, and JSON-RPC batches.
 */

const CONFIG = `
roles:
  finance: [fin@example.com]
  auditor: [aud@example.com]
policy:
  default: deny
  rules:
    - id: finance-notes
      tools: [test_write_note]
      when: args.key.startsWith("fin")
      decision: approve
      approvers: { role: finance, count: 1 }
    - id: owner-notes
      tools: [test_write_note]
      decision: approve
`;

let stack: Stack;
const people: Record<'owner' | 'fin' | 'aud' | 'stranger', { approver: TestApprover; web: WebClient }> = {} as never;
let financeRequest: string;
let ownerRequest: string;
let agentToken: string;
let agentId: string;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  for (const [who, email] of [['owner', 'owner@example.com'], ['fin', 'fin@example.com'], ['aud', 'aud@example.com'], ['stranger', 'stranger@example.com']] as const) {
    const approver = await stack.enrollApprover(email);
    people[who] = { approver, web: await signedIn(stack, approver.id) };
  }
  const agent = await stack.addAgent('notes-bot', 'owner@example.com');
  agentToken = agent.token;
  agentId = agent.agentId;
  financeRequest = (await stack.submit(agent.agentId, 'test_write_note', { key: 'fin-q3', text: 'budget' })).id;
  ownerRequest = (await stack.submit(agent.agentId, 'test_write_note', { key: 'plan', text: 'ship' })).id;
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

/** A POST from another loopback address (127.0.0.2, ...), as a different client would send it. */
function postFrom(localAddress: string, path: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { port, host } = new URL(stack.listenUrl);
    const req = request({ host: '127.0.0.1', port, localAddress, path, method: 'POST', headers: { host, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const status = async (who: keyof typeof people, path: string) => (await people[who].web.get(path)).status;

describe('who sees a request', () => {
  it.each([
    ['owner', 200, 200],
    ['fin', 200, 404],
    ['aud', 200, 200],
    ['stranger', 404, 404],
  ] as const)('%s: finance request %i, owner request %i', async (who, finance, owner) => {
    expect(await status(who, `/requests/${financeRequest}`)).toBe(finance);
    expect(await status(who, `/requests/${ownerRequest}`)).toBe(owner);
  });

  it('a refusal reads exactly like a request that does not exist', async () => {
    const hidden = await (await people.stranger.web.get(`/requests/${financeRequest}`)).json();
    const missing = await (await people.stranger.web.get('/requests/req_does_not_exist')).json();
    expect(hidden).toEqual(missing);
  });

  it('the inbox holds only what each may decide', async () => {
    const inbox = async (who: keyof typeof people) => (await (await people[who].web.get('/inbox/fragment')).text());
    expect(await inbox('fin')).toContain(financeRequest);
    expect(await inbox('fin')).not.toContain(ownerRequest);
    expect(await inbox('owner')).toContain(ownerRequest);
    expect(await inbox('stranger')).not.toMatch(/req_/);
  });

  it('after deciding, the decider keeps seeing it', async () => {
    await stack.decide(people.fin.approver, financeRequest, 'reject', 'not this quarter');
    expect(await status('fin', `/requests/${financeRequest}`)).toBe(200);
    expect(await status('stranger', `/requests/${financeRequest}`)).toBe(404);
  });
});

describe('the audit trail and the people page', () => {
  it.each([
    ['aud', 200],
    ['owner', 403],
    ['fin', 403],
    ['stranger', 403],
  ] as const)('%s reads /audit and timelines: %i', async (who, expected) => {
    expect(await status(who, '/audit')).toBe(expected);
    expect(await status(who, `/audit/requests/${ownerRequest}`)).toBe(expected);
    if (expected === 403) expect((await (await people[who].web.get('/audit')).json()).error.code).toBe('not_auditor');
  });

  it('shows the auditor everyone, and anyone else only themselves and the agents they own', async () => {
    const page = async (who: keyof typeof people) => (await people[who].web.get('/audit/people', { accept: 'text/html' })).text();
    const all = await page('aud');
    for (const email of ['owner@example.com', 'fin@example.com', 'stranger@example.com']) expect(all).toContain(email);
    const own = await page('stranger');
    expect(own).toContain('stranger@example.com');
    expect(own).not.toContain('fin@example.com');
    expect(own).not.toContain('notes-bot');
    expect(await page('owner')).toContain('notes-bot');
  });
});

describe('one device key, one approver', () => {
  it('refuses pairing a key another approver holds (one signature must not fill two seats)', async () => {
    const key = await createPassportKey();
    const db = stack.services.database.db;
    // Each pairing comes from its own client address so the pairing throttle above does not interfere.
    const pair = async (approverId: string, address: string) => {
      const { code } = await createPairingCode(db, { approverId });
      return postFrom(address, '/api/v1/devices/pair', { code, publicJwk: key.publicJwk });
    };
    expect((await pair(people.fin.approver.id, '127.0.0.2')).status).toBe(201);
    const second = await pair(people.owner.approver.id, '127.0.0.2');
    expect(second.status).toBe(400);
    expect(JSON.parse(second.body).error.message).toMatch(/already paired.*one approver/);
    expect((await pair(people.fin.approver.id, '127.0.0.2')).status).toBe(400);
  });
});

describe('the Passport channel, per role', () => {
  it("a device's inbox holds only what its approver may decide; a signed approval from anyone else is refused, and counts nothing", async () => {
    const request = await stack.submit(agentId, 'test_write_note', { key: 'device-plan', text: 'owner only' });
    const db = stack.services.database.db;
    const devices: Partial<Record<keyof typeof people, { id: string; key: CryptoKeyPair }>> = {};
    for (const who of ['owner', 'fin', 'aud', 'stranger'] as const) {
      const key = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })) as CryptoKeyPair;
      const { code } = await createPairingCode(db, { approverId: people[who].approver.id });
      const paired = await postFrom('127.0.0.3', '/api/v1/devices/pair', { code, publicJwk: await exportJWK(key.publicKey) });
      expect(paired.status, paired.body).toBe(201);
      devices[who] = { id: JSON.parse(paired.body).deviceId as string, key };
    }
    const signed = async (who: keyof typeof people, method: string, path: string) => {
      const claims = { method, path, iat: Math.floor(Date.now() / 1000), nonce: randomBytes(18).toString('base64url') };
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA', kid: devices[who]!.id }).sign(devices[who]!.key.privateKey);
      return `Passport ${jws}`;
    };
    const inbox = async (who: keyof typeof people) => {
      const res = await fetch(`${stack.listenUrl}/api/v1/devices/inbox`, { headers: { authorization: await signed(who, 'GET', '/api/v1/devices/inbox') } });
      return ((await res.json()) as { requests: { id: string }[] }).requests.map((r) => r.id);
    };
    expect(await inbox('owner')).toContain(request.id);
    for (const who of ['fin', 'aud', 'stranger'] as const) expect(await inbox(who), who).not.toContain(request.id);
    for (const who of ['fin', 'aud', 'stranger'] as const) {
      const jws = await new CompactSign(approvalSigningBytes(request.digest, 'approve')).setProtectedHeader({ alg: 'EdDSA', kid: devices[who]!.id }).sign(devices[who]!.key.privateKey);
      const res = await fetch(`${stack.listenUrl}/api/v1/devices/decide`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: await signed(who, 'POST', '/api/v1/devices/decide') },
        body: JSON.stringify({ requestId: request.id, decision: 'approve', jws }),
      });
      expect(res.status, who).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code, who).toBe('not_an_approver');
    }
    const after = await stack.port.send<{ state: string; approvals: string[] }>('kernel', { op: 'request.get', requestId: request.id });
    expect(after).toMatchObject({ state: 'pending', approvals: [] });
  });
});

describe('JSON-RPC batches', () => {
  it('are refused around initialize and under protocol 2025-06-18 and later', async () => {
    const auth = { authorization: `Bearer ${agentToken}` };
    const batchInit = await rawPost(stack.listenUrl, `[${INITIALIZE}]`, auth);
    expect(batchInit.status).toBe(400);
    expect((await batchInit.json()).error.message).toMatch(/initialize cannot be sent in a batch/);
    const opened = await rawPost(stack.listenUrl, INITIALIZE, auth);
    const session = opened.headers.get('mcp-session-id')!;
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const batch = await rawPost(stack.listenUrl, `[${list}]`, { ...auth, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
    expect(batch.status).toBe(400);
    expect((await batch.json()).error).toMatchObject({ code: -32600, message: expect.stringMatching(/2025-11-25 has no JSON-RPC batches/) });
  });
});

describe('guessing is throttled and audited as counts', () => {
  it('answers the 11th failed sign-in from one address with 429 and Retry-After', async () => {
    const bad = { challengeId: 'nope', response: { id: 'x', type: 'public-key' } };
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await people.stranger.web.post('/signin/verify', bad)).status);
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true);
    const blocked = await people.stranger.web.post('/signin/verify', bad);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await blocked.json()).error.message).toMatch(/Too many failed sign-in attempts/);
    const [entry] = await auditEntries(stack, 'edge.refused.throttled');
    expect(entry.data).toMatchObject({ count: expect.any(Number) });
  });

  it('throttles pairing codes and agent tokens the same way', async () => {
    const key = await createPassportKey();
    const pair = () => fetch(`${stack.listenUrl}/api/v1/devices/pair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'AAAA-BBBB-CCCC', publicJwk: key.publicJwk }) });
    for (let i = 0; i < 10; i++) expect((await pair()).status).toBe(400);
    expect((await pair()).status).toBe(429);
    const guesses: number[] = [];
    for (let i = 0; i < 31; i++) guesses.push((await rawPost(stack.listenUrl, INITIALIZE, { authorization: `Bearer guess-${i}` })).status);
    expect(guesses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(guesses[30]).toBe(429);
  });
});
