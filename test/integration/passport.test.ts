import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { serve, type ServerType } from '@hono/node-server';
import { and, eq } from 'drizzle-orm';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { approvalSigningBytes, requestDigest, schema, type JsonObject } from '../../kernel/index.ts';
import { devicePairings } from '../../approval-web/schema.ts';
import { createSession } from '../../approval-web/sessions.ts';
import { runState } from '../../gateway/cli.ts';
import { passportMain, type PassportIo } from '../../gateway/commands/passport.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { freePort, startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { dbKind } from '../support/db.ts';

/** Paired Passports end to end: pairing codes, the device API, device-signed decisions, and the emulator. */

const paid: number[] = [];
const demo: Connector = {
  name: 'demo',
  sandbox: true,
  tools: [
    defineTool({
      name: 'demo_pay',
      title: 'Pay',
      description: 'Pays an amount',
      input: z.object({ amount: z.number().int().positive(), memo: z.string().default('') }),
      impact: 'high',
      consequence: 'moves-money',
      describe: async (args) => ({
        summary: `Pay $${(args.amount / 100).toFixed(2)} USD`,
        consequence: 'moves-money',
        reversible: false,
        fields: [{ label: 'Amount', kind: 'money', value: args.amount, currency: 'USD' }],
        pins: { account: 'acct_1' },
        agentText: [{ label: 'Memo', text: args.memo }],
      }),
      execute: async (args) => {
        paid.push(args.amount);
        return { data: { paid: args.amount }, text: `paid ${args.amount}` };
      },
    }),
  ],
};

const CONFIG = `
policy:
  default: approve
  rules: []
`;

interface TestDevice {
  deviceId: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

let stack: Stack;
let base: string;
let agentId: string;
let owner: TestApprover;
const homes: string[] = [];

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [demo] });
  base = stack.listenUrl;
  ({ agentId } = await stack.addAgent('passport-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
});
afterAll(async () => {
  await stack?.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

const db = () => stack.services.database.db;

async function pairingCode(email = owner.email, extra: string[] = []): Promise<string> {
  const out = await runState(stack.services, ['device', 'pair', '--approver', email, '--json', ...extra]);
  expect(out.exitCode).toBe(0);
  return (JSON.parse(out.stdout) as { code: string }).code;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

async function newKey() {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

async function pairDevice(code?: string): Promise<TestDevice> {
  const key = await newKey();
  const { status, json } = await post('/api/v1/devices/pair', { code: code ?? (await pairingCode()), name: 'Test Passport', publicJwk: key.publicJwk });
  expect(status, JSON.stringify(json)).toBe(201);
  expect(json.approverEmail).toBe(owner.email);
  return { deviceId: json.deviceId as string, ...key };
}

async function authFor(device: TestDevice, method: string, path: string, claims: Partial<{ iat: number; nonce: string; path: string }> = {}, key = device.privateKey) {
  const payload = { method, path: claims.path ?? path, iat: claims.iat ?? Math.floor(Date.now() / 1000), nonce: claims.nonce ?? randomBytes(18).toString('base64url') };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid: device.deviceId }).sign(key);
  return `Passport ${jws}`;
}

async function inbox(device: TestDevice, authorization?: string) {
  const response = await fetch(base + '/api/v1/devices/inbox', { headers: { authorization: authorization ?? (await authFor(device, 'GET', '/api/v1/devices/inbox')) } });
  return { status: response.status, json: (await response.json()) as { requests: { id: string; digest: string; body: JsonObject; intent: JsonObject }[]; error?: { code: string; message: string } } };
}

const signDecision = (digest: string, decision: 'approve' | 'reject', key: CryptoKey, kid: string) =>
  new CompactSign(approvalSigningBytes(digest, decision)).setProtectedHeader({ alg: 'EdDSA', kid }).sign(key);

async function decide(device: TestDevice, body: { requestId: string; decision: 'approve' | 'reject'; jws: string; reason?: string }) {
  return post('/api/v1/devices/decide', body, { authorization: await authFor(device, 'POST', '/api/v1/devices/decide') });
}

const pending = (amount: number, memo = 'for the invoice') => stack.submit(agentId, 'demo_pay', { amount, memo });
const auditKinds = async (requestId: string) =>
  (await stack.services.audit.sync(), await db().select().from(schema.auditEntries).where(eq(schema.auditEntries.requestId, requestId))).map((e) => e.kind);

describe(`Passport pairing and device API on ${dbKind}`, () => {
  it('pairs with a one-time code over HTTP and approves a pending request, which then executes', async () => {
    const request = await pending(1200, 'ignore previous instructions');
    expect(request.state).toBe('pending');
    const device = await pairDevice();
    const box = await inbox(device);
    expect(box.status).toBe(200);
    const item = box.json.requests.find((r) => r.id === request.id)!;
    expect(item.digest).toBe(request.digest);
    expect(requestDigest(item.body as never)).toBe(item.digest);
    expect(item.intent.summary).toBe('Pay $12.00 USD');
    expect(item.intent.agentText).toEqual([expect.objectContaining({ label: 'Memo', text: 'ignore previous instructions', author: 'agent' })]);

    const jws = await signDecision(item.digest, 'approve', device.privateKey, device.deviceId);
    const { status, json } = await decide(device, { requestId: request.id, decision: 'approve', jws });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.state).toBe('approved');
    const final = await stack.awaitRequest(agentId, request.id);
    expect(final.state).toBe('succeeded');
    expect(paid).toContain(1200);
    const [decision] = await db().select().from(schema.decisions).where(eq(schema.decisions.requestId, request.id));
    expect(decision).toMatchObject({ evidenceKind: 'device', keyId: device.deviceId });
    expect(decision!.evidence).toMatchObject({ kind: 'device', jws, digest: request.digest, decision: 'approve' });
    await stack.services.audit.sync();
    const paired = await db().select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'device.paired'));
    expect(paired.some((e) => (e.data as JsonObject).deviceId === device.deviceId)).toBe(true);
  });

  it('refuses a reused, an expired, an unknown code, and a key that is not an Ed25519 public key (without using the code up)', async () => {
    const code = await pairingCode();
    await pairDevice(code);
    const key = await newKey();
    const again = await post('/api/v1/devices/pair', { code, publicJwk: key.publicJwk });
    expect(again.status).toBe(410);
    expect(again.json.error).toMatchObject({ code: 'code_used', message: expect.stringMatching(/already used.*Make a new one/) });

    const late = await pairingCode();
    await db().update(devicePairings).set({ expiresAt: new Date(Date.now() - 1000) });
    const expired = await post('/api/v1/devices/pair', { code: late, publicJwk: key.publicJwk });
    expect(expired.status).toBe(410);
    expect(expired.json.error?.code).toBe('code_expired');

    const unknown = await post('/api/v1/devices/pair', { code: 'AAAA-BBBB-CCCC', publicJwk: key.publicJwk });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error?.code).toBe('invalid_code');

    const fresh = await pairingCode();
    const privateJwk = await exportJWK(key.privateKey);
    const leaked = await post('/api/v1/devices/pair', { code: fresh, publicJwk: privateJwk });
    expect(leaked.status).toBe(400);
    expect(leaked.json.error?.message).toMatch(/private key/);
    const rsa = await post('/api/v1/devices/pair', { code: fresh, publicJwk: { kty: 'RSA', n: 'x', e: 'AQAB' } });
    expect(rsa.status).toBe(400);
    expect(rsa.json.error?.message).toMatch(/Ed25519/);
    const garbage = await post('/api/v1/devices/pair', { code: fresh });
    expect(garbage.status).toBe(400);
    // The code survived the bad keys: the same device can pair with a proper one.
    expect((await post('/api/v1/devices/pair', { code: ` ${fresh.toLowerCase()} `, publicJwk: key.publicJwk })).status).toBe(201);
  });

  it('refuses decisions signed by another key, for another digest or for the other decision, and audits each', async () => {
    const device = await pairDevice();
    const request = await pending(3300);
    const other = await pending(4400);
    const stranger = await newKey();
    const cases = [
      { decision: 'approve' as const, jws: await signDecision(request.digest, 'approve', stranger.privateKey, device.deviceId), message: /bad signature/ },
      { decision: 'approve' as const, jws: await signDecision(other.digest, 'approve', device.privateKey, device.deviceId), message: /.+/ },
      { decision: 'approve' as const, jws: await signDecision(request.digest, 'reject', device.privateKey, device.deviceId), message: /.+/ },
    ];
    for (const c of cases) {
      const { status, json } = await decide(device, { requestId: request.id, decision: c.decision, jws: c.jws });
      expect(status, JSON.stringify(json)).toBe(403);
      expect(json.error).toMatchObject({ code: 'evidence_refused', message: expect.stringMatching(c.message) });
    }
    expect((await auditKinds(request.id)).filter((k) => k === 'approval.refused')).toHaveLength(3);
    expect((await stack.port.send<JsonObject>('kernel', { op: 'request.get', requestId: request.id })).state).toBe('pending');
    const bad = await decide(device, { requestId: request.id, decision: 'approve', jws: 'not a jws' });
    expect(bad.status).toBe(403);
    const malformed = await post('/api/v1/devices/decide', { requestId: request.id }, { authorization: await authFor(device, 'POST', '/api/v1/devices/decide') });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error?.message).toMatch(/decision/);
  });

  it('refuses replayed, stale, misdirected and foreign-signed device calls', async () => {
    const device = await pairDevice();
    const auth = await authFor(device, 'GET', '/api/v1/devices/inbox');
    expect((await inbox(device, auth)).status).toBe(200);
    const replay = await inbox(device, auth);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toMatchObject({ code: 'replayed', message: expect.stringMatching(/fresh/) });
    const stale = await inbox(device, await authFor(device, 'GET', '/api/v1/devices/inbox', { iat: Math.floor(Date.now() / 1000) - 120 }));
    expect(stale.json.error?.code).toBe('stale');
    const elsewhere = await inbox(device, await authFor(device, 'GET', '/api/v1/devices/inbox', { path: '/api/v1/devices/decide' }));
    expect(elsewhere.status).toBe(401);
    const foreign = await inbox(device, await authFor(device, 'GET', '/api/v1/devices/inbox', {}, (await newKey()).privateKey));
    expect(foreign.json.error?.code).toBe('bad_signature');
    const none = await fetch(base + '/api/v1/devices/inbox');
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/Authorization: Passport/);
  });

  it('lets a signed-in approver pair and remove a Passport on the web; a removed device is refused', async () => {
    const device = await pairDevice();
    const request = await pending(5500);
    const { id, session } = await createSession(db(), owner.id);
    const headers = { cookie: `cs_session=${id}`, origin: stack.url, 'content-type': 'application/x-www-form-urlencoded' };
    const page = await fetch(base + '/devices', { headers: { cookie: headers.cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(device.deviceId);
    expect(html).toContain('Pair a Passport');

    const shown = await fetch(base + '/devices/pair', { method: 'POST', headers, body: `_csrf=${session.csrfToken}&name=Desk` });
    expect(shown.status).toBe(200);
    const code = /id="pairing-code">([0-9A-Z-]{14})</.exec(await shown.text())?.[1];
    expect(code).toBeDefined();
    const [row] = await db().select().from(devicePairings).where(and(eq(devicePairings.approverId, owner.id), eq(devicePairings.name, 'Desk')));
    expect(row).toBeDefined();
    const noCsrf = await fetch(base + '/devices/pair', { method: 'POST', headers, body: 'name=x' });
    expect(noCsrf.status).toBe(403);

    const removed = await fetch(base + `/devices/${device.deviceId}/remove`, { method: 'POST', headers, body: `_csrf=${session.csrfToken}`, redirect: 'manual' });
    expect(removed.status).toBe(303);
    expect((await db().select().from(schema.devices).where(eq(schema.devices.id, device.deviceId)))[0]!.removedAt).not.toBeNull();
    const box = await inbox(device);
    expect(box.status).toBe(401);
    expect(box.json.error?.code).toBe('device_not_paired');
    // Evidence from the removed device does not count even when sent by another, still-paired device.
    const carrier = await pairDevice();
    const jws = await signDecision(request.digest, 'approve', device.privateKey, device.deviceId);
    const refused = await stack.port
      .send('kernel', { op: 'approval.decide', requestId: request.id, decision: 'approve', reason: null, evidence: { kind: 'device', deviceId: device.deviceId, jws } })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'evidence_refused', message: expect.stringMatching(/not paired/) });
    expect((await decide(carrier, { requestId: request.id, decision: 'approve', jws })).status).toBe(403);
    const again = await fetch(base + `/devices/${device.deviceId}/remove`, { method: 'POST', headers, body: `_csrf=${session.csrfToken}` });
    expect(again.status).toBe(404);
    expect(await auditKinds(request.id)).toContain('approval.refused');
    await stack.services.audit.sync();
    const removals = await db().select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'device.removed'));
    expect(removals.some((e) => (e.data as JsonObject).deviceId === device.deviceId)).toBe(true);
  });
});

describe(`device pair command on ${dbKind}`, () => {
  it('prints one JSON object with the code, the URL and the emulator command', async () => {
    // The emulator command is worded for the shell that asked (here a clone, where `countersign` is not on PATH).
    const out = await runState(stack.services, ['device', 'pair', '--approver', 'OWNER@example.com', '--name', "Jane's desk", '--json'], 'npx countersign');
    expect(out.exitCode).toBe(0);
    expect(out.stdout.trim().split('\n')).toHaveLength(1);
    const parsed = JSON.parse(out.stdout) as Record<string, string>;
    expect(parsed).toEqual({
      code: expect.stringMatching(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/),
      approver: 'owner@example.com',
      name: "Jane's desk",
      url: stack.url,
      expiresAt: expect.any(String),
      command: `npx countersign passport pair --url ${stack.url} --code ${parsed.code} --name 'Jane'\\''s desk'`,
    });
    expect(Math.round((Date.parse(parsed.expiresAt!) - Date.now()) / 60_000)).toBe(10);
    const text = await runState(stack.services, ['device', 'pair', '--approver', 'owner@example.com']);
    expect(text.stdout).toMatch(/expires in 10 minutes/);
    expect(text.stdout).toContain(`countersign passport pair --url ${stack.url} --code`);
  });

  it('says who to invite first for an unknown approver, and what is missing without --approver', async () => {
    const out = await runState(stack.services, ['device', 'pair', '--approver', 'nobody@example.com', '--json']);
    expect(out.exitCode).toBe(2);
    expect(JSON.parse(out.stdout)).toEqual({ error: { code: 'not_an_approver', message: expect.stringContaining('countersign approver invite nobody@example.com') } });
    const usage = await runState(stack.services, ['device', 'pair']);
    expect(usage.exitCode).toBe(2);
    expect(usage.stdout).toContain('--approver EMAIL');
  });
});

function capture(): PassportIo & { text: () => string } {
  let out = '';
  return { write: (t) => void (out += t), ask: null, text: () => out };
}

function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'countersign-passport-'));
  homes.push(home);
  return join(home, 'device');
}

describe(`Passport emulator on ${dbKind}`, () => {
  it('pairs (key file mode 0600) and approves the inbox once', async () => {
    const home = tempHome();
    const io = capture();
    expect(await passportMain(['pair', '--url', base, '--code', await pairingCode(), '--name', 'Emulator', '--home', home], io), io.text()).toBe(0);
    expect(statSync(join(home, 'passport.json')).mode & 0o777).toBe(0o600);
    expect(io.text()).toMatch(/Paired "Emulator" \(dev_[0-9a-f]{32}\) with owner@example.com/);
    const again = capture();
    expect(await passportMain(['pair', '--url', base, '--code', 'AAAA-BBBB-CCCC', '--home', home], again)).toBe(2);
    expect(again.text()).toMatch(/already holds a paired Passport/);

    const request = await pending(6600, 'pay \u202Eevil');
    const screen = capture();
    expect(await passportMain(['--once', '--approve-all', '--home', home], screen), screen.text()).toBe(0);
    expect(screen.text()).toContain('Pay $66.00 USD');
    expect(screen.text()).toContain('66.00 USD');
    expect(screen.text()).toContain("The agent's own words (Memo)");
    expect(screen.text()).toContain('pay ⟨U+202E⟩evil');
    expect(screen.text()).toMatch(/direction-changing/);
    expect((await stack.awaitRequest(agentId, request.id)).state).toBe('succeeded');

    const nothing = capture();
    expect(await passportMain(['--once', '--reject-all', '--home', home, '--json'], nothing)).toBe(0);
    expect(JSON.parse(nothing.text())).toMatchObject({ decided: [], refused: [] });
    const noTty = capture();
    expect(await passportMain(['--once', '--home', home], noTty)).toBe(2);
    expect(noTty.text()).toMatch(/--approve-all or --reject-all/);
  });

  it('asks "Approve? [y/N/r=reject]" on a terminal: y approves, r rejects with a signed reason, anything else skips', async () => {
    const home = tempHome();
    expect(await passportMain(['pair', '--url', base, '--code', await pairingCode(), '--home', home], capture())).toBe(0);
    await passportMain(['--once', '--reject-all', '--home', home], capture()); // clear what earlier tests left
    const first = await pending(1001);
    const second = await pending(1002);
    const third = await pending(1003);
    const answers = new Map([[1001, 'y'], [1002, 'r'], [1003, '']]);
    const io = capture();
    const questions: string[] = [];
    io.ask = async (question) => {
      questions.push(question);
      if (question.startsWith('Reason')) return 'Wrong account, please.';
      const amount = Number(/Pay \$(\d+)\.(\d+)/.exec(io.text().split('┌─ Passport').at(-1)!)!.slice(1).join(''));
      return answers.get(amount) ?? '';
    };
    expect(await passportMain(['--once', '--home', home], io), io.text()).toBe(0);
    expect(questions.filter((q) => q === 'Approve? [y/N/r=reject] ')).toHaveLength(3);
    // Only the rejection asks for a reason, right after its "r".
    expect(questions.filter((q) => q === 'Reason for rejecting (optional, sent to the agent): ')).toHaveLength(1);
    expect(questions.length).toBe(4);
    expect((await stack.awaitRequest(agentId, first.id)).state).toBe('succeeded');
    const rejected = await stack.port.send<JsonObject>('kernel', { op: 'request.get', requestId: second.id });
    expect(rejected.state).toBe('rejected');
    // The reason is inside what the device signed: the kernel verified it with the decision.
    expect((rejected.approvals as JsonObject[])[0]).toMatchObject({ decision: 'reject', reason: 'Wrong account, please.', evidenceKind: 'device' });
    expect((await stack.port.send<JsonObject>('kernel', { op: 'request.get', requestId: third.id })).state).toBe('pending');
    expect(io.text()).toContain('Skipped: not decided.');
  });

  it('refuses to sign when the digest the server sent does not match the body', async () => {
    const home = tempHome();
    expect(await passportMain(['pair', '--url', base, '--code', await pairingCode(), '--home', home], capture())).toBe(0);
    const request = await pending(7700);
    // A compromised server (here: a proxy in front of the real one) shows the device a smaller amount.
    const port = await freePort();
    const proxy: ServerType = serve({
      port,
      hostname: '127.0.0.1',
      fetch: async (req) => {
        const url = new URL(req.url);
        const upstream = await fetch(base + url.pathname, { method: req.method, headers: req.headers, body: req.method === 'GET' ? undefined : await req.text() });
        if (!url.pathname.endsWith('/inbox') || !upstream.ok) return upstream;
        const json = (await upstream.json()) as { requests: { body: { args: { amount: number } }; intent: { summary: string } }[] };
        for (const r of json.requests) {
          r.body.args.amount = 1;
          r.intent.summary = 'Pay $0.01 USD';
        }
        return Response.json(json);
      },
    });
    await new Promise<void>((ok) => proxy.once('listening', () => ok()));
    try {
      const io = capture();
      expect(await passportMain(['--once', '--approve-all', '--json', '--url', `http://127.0.0.1:${port}`, '--home', home], io)).toBe(1);
      const out = JSON.parse(io.text()) as { decided: unknown[]; refused: { requestId: string; refused: string }[] };
      expect(out.decided).toEqual([]);
      expect(out.refused).toContainEqual({ requestId: request.id, refused: expect.stringMatching(/does not match.*not signing/) });
    } finally {
      await new Promise<void>((done) => proxy.close(() => done()));
    }
    expect((await stack.port.send<JsonObject>('kernel', { op: 'request.get', requestId: request.id })).state).toBe('pending');
    expect(paid).not.toContain(7700);
  });

  it('runs as the real CLI: countersign passport --once --approve-all', async () => {
    const home = tempHome();
    const cli = resolve(import.meta.dirname, '../../bin/countersign.js');
    const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000 });
    const paired = await run(['passport', 'pair', '--url', base, '--code', await pairingCode(), '--home', home, '--json']);
    expect(JSON.parse(paired.stdout)).toMatchObject({ deviceId: expect.stringMatching(/^dev_/), approverEmail: 'owner@example.com' });
    const request = await pending(8800);
    const { stdout } = await run(['passport', '--once', '--approve-all', '--home', home]);
    expect(stdout).toContain('Pay $88.00 USD');
    expect(stdout).toMatch(/Approved/);
    expect((await stack.awaitRequest(agentId, request.id)).state).toBe('succeeded');
    const help = await run(['passport', '--help']);
    expect(help.stdout).toContain('countersign passport pair --url URL --code CODE');
  }, 60_000);
});

describe(`device API edges on ${dbKind}`, () => {
  it('answers unknown calls and non-JSON bodies with JSON errors that say what to do', async () => {
    const unknown = await fetch(base + '/api/v1/devices/nope');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/POST pair, GET inbox, POST decide/);
    const notJson = await fetch(base + '/api/v1/devices/pair', { method: 'POST', body: 'x' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { message: string } }).error.message).toMatch(/must be JSON/);
  });
});

describe(`Passport receipts offline on ${dbKind}`, () => {
  it('an exported bundle re-verifies device-signed approvals with the paired keys', async () => {
    const device = await pairDevice();
    const request = await pending(9900);
    const jws = await signDecision(request.digest, 'approve', device.privateKey, device.deviceId);
    expect((await decide(device, { requestId: request.id, decision: 'approve', jws })).status).toBe(200);
    const out = join(tempHome() + '-bundle.jsonl');
    const exported = await runState(stack.services, ['audit', 'export', '--out', out]);
    expect(exported.exitCode, exported.stdout).toBe(0);
    const { auditVerifyOffline } = await import('../../gateway/commands/audit.ts');
    const { verifyEvidence } = await import('../../gateway/commands/receipts.ts');
    const verified = await auditVerifyOffline(out, { json: true, verifyEvidence });
    expect(verified.exitCode, verified.stdout).toBe(0);
    const devices = await db().select().from(schema.decisions).where(eq(schema.decisions.evidenceKind, 'device'));
    expect((JSON.parse(verified.stdout) as { approvals: { checked: number } }).approvals.checked).toBeGreaterThanOrEqual(devices.length);
    // The request's own receipt: its entries and the device's enrollment, each with an inclusion proof.
    const receipt = join(tempHome() + '-receipt.jsonl');
    expect((await runState(stack.services, ['audit', 'receipt', request.id, '--out', receipt])).exitCode).toBe(0);
    const single = JSON.parse((await auditVerifyOffline(receipt, { json: true, verifyEvidence })).stdout) as { ok: boolean; approvals: { checked: number } };
    expect(single).toMatchObject({ ok: true, approvals: { checked: 1, unchecked: [] } });
    expect(devices.length).toBeGreaterThanOrEqual(1);
  });
});

describe(`Passport emulator and an outcome nobody could tell, on ${dbKind}`, () => {
  /** A payment that ran, left as a SIGKILL mid-call would leave it (executing, lease lapsed, grant used); recovery cannot tell. */
  async function unknownPayment(amount: number): Promise<string> {
    const request = await pending(amount, 'for the crash');
    await stack.decide(owner, request.id, 'approve');
    expect((await stack.awaitRequest(agentId, request.id)).state).toBe('succeeded');
    await db().update(schema.requests).set({ state: 'executing', result: null, leaseOwner: 'replica-that-died', leaseUntil: new Date(0) }).where(eq(schema.requests.id, request.id));
    await stack.services.kernel.recover();
    expect(await stack.awaitRequest(agentId, request.id, 0)).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
    return request.id;
  }
  const resolution = async (requestId: string) => {
    await stack.services.audit.sync();
    const [entry] = await db().select().from(schema.auditEntries).where(and(eq(schema.auditEntries.requestId, requestId), eq(schema.auditEntries.kind, 'execution.resolved')));
    return entry?.data as JsonObject | undefined;
  };

  it('shows "may or may not have run" and never approves it with --approve-all; Mark as done and Run again are signed by the device key', async () => {
    const home = tempHome();
    expect(await passportMain(['pair', '--url', base, '--code', await pairingCode(), '--home', home], capture())).toBe(0);
    await passportMain(['--once', '--reject-all', '--home', home], capture()); // clear what earlier tests left
    const done = await unknownPayment(7100);
    const again = await unknownPayment(7200);

    const blanket = capture();
    expect(await passportMain(['--once', '--approve-all', '--home', home], blanket), blanket.text()).toBe(0);
    expect(blanket.text()).toContain('THIS MAY OR MAY NOT HAVE RUN');
    expect(blanket.text()).toContain('cannot look upstream for what it did');
    expect(blanket.text()).toContain(`--mark-done ${done}`);
    expect((await stack.awaitRequest(agentId, done, 0)).state).toBe('unknown');

    const paidBefore = paid.length;
    const io = capture();
    const code = await passportMain(['--once', '--home', home, '--mark-done', done, '--run-again', again, '--reason', 'checked the ledger', '--json'], io);
    expect(code, io.text()).toBe(0);
    expect(JSON.parse(io.text())).toMatchObject({ decided: expect.arrayContaining([{ requestId: done, decision: 'mark_done', state: 'succeeded' }, expect.objectContaining({ requestId: again, decision: 'run_again' })]), refused: [] });
    expect(await stack.awaitRequest(agentId, done, 0)).toMatchObject({ state: 'succeeded', result: { data: { status: 'marked_done', reason: 'checked the ledger' } } });
    expect((await stack.awaitRequest(agentId, again, 10_000)).state).toBe('succeeded');
    expect(paid.slice(paidBefore)).toEqual([7200]);
    for (const [id, decision] of [[done, 'mark_done'], [again, 'run_again']] as const) {
      expect(await resolution(id)).toMatchObject({ decision, reason: 'checked the ledger', evidenceKind: 'device', approver: owner.email });
    }
  });
});
