import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { sql } from 'drizzle-orm';
import { APPROVAL_WEB_CAPABILITIES, kernelClient, type KernelClient } from '../../approval-web/kernel-client.ts';
import { authenticateDevice, databaseNonces, requireDevice, SKEW_SECONDS, type DeviceEnv, type NonceStore } from '../../approval-web/devices/auth.ts';
import { claimPairingCode, createPairingCode, normalizeCode, pairingCodeState, releasePairingCode, PAIRING_MINUTES } from '../../approval-web/devices/pairing.ts';
import type { Db } from '../../kernel/index.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The Passport's device API authentication and its pairing codes, on the real kernel (PGlite): a paired device's key
// signs `{method, path, iat, nonce}`; every way that proof can be wrong is refused with its own code and message.

let fx: KernelFixture;
let db: Db;
let kernel: KernelClient;
let approverId: string;
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let device: { id: string; key: Key };
let other: { id: string; key: Key };

async function pair(name: string): Promise<{ id: string; key: Key }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const added = await kernel.addDevice(approverId, name, await exportJWK(publicKey));
  return { id: added.id, key: privateKey };
}

beforeAll(async () => {
  fx = await startKernel();
  db = fx.database.db as unknown as Db;
  kernel = kernelClient(fx.port('web', APPROVAL_WEB_CAPABILITIES));
  approverId = (await fx.enroll('dev-owner@example.com')).id;
  device = await pair('Desk Passport');
  other = await pair('Spare Passport');
}, 120_000);
afterAll(async () => fx?.close());

const nonce = () => randomBytes(16).toString('base64url');
async function sign(claims: Record<string, unknown> | string, header: Record<string, unknown> = {}, key: Key = device.key): Promise<string> {
  const payload = typeof claims === 'string' ? claims : JSON.stringify(claims);
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'EdDSA', kid: device.id, ...header }).sign(key);
}
const call = (over: Record<string, unknown> = {}) => ({ method: 'POST', path: '/api/device/decide', iat: Math.floor(Date.now() / 1000), nonce: nonce(), ...over });
const check = (header: string | undefined, nonces: NonceStore = databaseNonces(db)) => authenticateDevice(kernel, nonces, header, 'POST', '/api/device/decide');
const refused = (header: string | undefined, nonces?: NonceStore) => check(header, nonces).then(() => { throw new Error('accepted'); }, (error: { code: string; message: string }) => ({ code: error.code, message: error.message }));

describe('device API authentication', () => {
  it('accepts a fresh JWS from a paired device for this call, and gives the device', async () => {
    expect(await check(`Passport ${await sign(call())}`)).toMatchObject({ id: device.id, approverId });
    expect(await check(`  Passport   ${await sign(call())}  `)).toMatchObject({ id: device.id });
    expect(await check(`Passport ${await sign(call({ iat: Date.now() / 1000 - SKEW_SECONDS + 2 }))}`)).toMatchObject({ id: device.id });
    expect(await check(`Passport ${await sign(call({ iat: Date.now() / 1000 + SKEW_SECONDS - 2 }))}`)).toMatchObject({ id: device.id });
    for (const n of ['a'.repeat(16), 'B-_9'.repeat(32)]) expect(await check(`Passport ${await sign(call({ nonce: n }))}`)).toMatchObject({ id: device.id });
  });

  it('refuses a missing or malformed Authorization header, saying what to send', async () => {
    const want = { code: 'unauthorized', message: 'Send "Authorization: Passport <JWS>": a compact JWS signed by your paired device (alg EdDSA, kid = device id) over {method, path, iat, nonce}.' };
    const jws = await sign(call());
    for (const header of [undefined, '', `Bearer ${jws}`, jws, `Passport ${jws}.x`, `Passport ${jws.replace('.', '.=')}`, `xPassport ${jws}`, `Passport ${jws} extra`]) {
      expect(await refused(header), String(header)).toEqual(want);
    }
  });

  it('refuses another algorithm, an unreadable header, and a kid that is not a device id', async () => {
    const payload = Buffer.from(JSON.stringify(call())).toString('base64url');
    const forged = (header: unknown) => `Passport ${Buffer.from(JSON.stringify(header)).toString('base64url')}.${payload}.c2ln`;
    expect(await refused(forged({ alg: 'HS256', kid: device.id }))).toEqual({ code: 'unauthorized', message: 'The device JWS must use alg EdDSA (Ed25519), not "HS256".' });
    expect(await refused(forged({ alg: 'none', kid: device.id }))).toEqual({ code: 'unauthorized', message: 'The device JWS must use alg EdDSA (Ed25519), not "none".' });
    expect(await refused(`Passport bm90LWpzb24.${payload}.c2ln`)).toEqual({ code: 'unauthorized', message: 'The Authorization JWS has an unreadable header; sign a compact JWS with header {alg: "EdDSA", kid: DEVICE_ID}.' });
    const badKid = { code: 'unauthorized', message: 'The JWS header must name the device: kid = the deviceId you received when pairing.' };
    for (const kid of [undefined, 7, 'dev_123', `${device.id}0`, `x${device.id}`, device.id.toUpperCase()]) expect(await refused(forged({ alg: 'EdDSA', kid })), String(kid)).toEqual(badKid);
  });

  it("refuses a device that is not paired, and a signature by another device's key", async () => {
    const unknown = `dev_${'0'.repeat(32)}`;
    expect(await refused(`Passport ${await sign(call(), { kid: unknown })}`)).toEqual({
      code: 'device_not_paired',
      message: `Device ${unknown} is not paired or was removed. Pair it again with a new code ("Pair a Passport" on the devices page, or countersign device pair).`,
    });
    expect(await refused(`Passport ${await sign(call(), {}, other.key)}`)).toEqual({ code: 'bad_signature', message: "The Authorization JWS does not verify with this device's paired key. Sign with the key you paired." });
  });

  it('refuses a payload that is not JSON, or made for another call', async () => {
    expect(await refused(`Passport ${await sign('not json')}`)).toEqual({ code: 'unauthorized', message: 'The Authorization JWS payload must be the JSON object {method, path, iat, nonce}.' });
    for (const over of [{ method: 'GET' }, { path: '/api/device/requests' }, { method: undefined, path: undefined }]) {
      const claims = call(over);
      expect(await refused(`Passport ${await sign(claims)}`)).toEqual({
        code: 'unauthorized',
        message: `This JWS was made for ${String(claims.method)} ${String(claims.path)}, not POST /api/device/decide; sign each call for its own method and path.`,
      });
    }
  });

  it('refuses a missing or non-numeric iat, and one more than a minute from the server clock either way', async () => {
    const noIat = { code: 'unauthorized', message: 'The payload needs iat, the signing time in seconds since 1970.' };
    for (const iat of [undefined, '1700000000', null]) expect(await refused(`Passport ${await sign(call({ iat }))}`), String(iat)).toEqual(noIat);
    // JSON can carry a number too large for a double: it parses as Infinity, which is no time either.
    const infinite = JSON.stringify(call({ iat: 0 })).replace('"iat":0', '"iat":1e400');
    expect(await refused(`Passport ${await sign(infinite)}`)).toEqual(noIat);
    for (const shift of [-(SKEW_SECONDS + 5), SKEW_SECONDS + 5, -3600]) {
      expect(await refused(`Passport ${await sign(call({ iat: Date.now() / 1000 + shift }))}`)).toEqual({
        code: 'stale',
        message: `The JWS was signed ${Math.abs(shift)} s away from the server's clock (at most ${SKEW_SECONDS} s allowed). Sign a fresh one; check the device clock.`,
      });
    }
  });

  it('refuses a missing or malformed nonce, and a nonce used before (per device)', async () => {
    const badNonce = { code: 'unauthorized', message: 'The payload needs nonce: 16-128 random base64url characters, new for every call.' };
    for (const n of [undefined, 12345678901234567890, 'a'.repeat(15), 'a'.repeat(129), `${'a'.repeat(16)}!`, `!${'a'.repeat(16)}`, 'a b'.repeat(8)]) {
      expect(await refused(`Passport ${await sign(call({ nonce: n }))}`), String(n)).toEqual(badNonce);
    }
    const jws = await sign(call());
    await check(`Passport ${jws}`);
    expect(await refused(`Passport ${jws}`)).toEqual({ code: 'replayed', message: 'This JWS (its nonce) was already used. Sign a fresh one for every call.' });
    // The same nonce from another device is that device's own first use.
    const shared = nonce();
    await check(`Passport ${await sign(call({ nonce: shared }))}`);
    expect(await check(`Passport ${await sign(call({ nonce: shared }), { kid: other.id }, other.key)}`)).toMatchObject({ id: other.id });
  });

  it('keeps a used nonce until it could no longer be fresh, and drops nonces past that', async () => {
    const nonces = databaseNonces(db);
    await db.execute(sql`insert into web_device_nonces (key, expires_at) values ('old:nonce', now() - interval '1 second'), ('live:nonce', now() + interval '1 hour')`);
    expect(await nonces.remember(`${device.id}:${nonce()}`)).toBe(true);
    const keys = ((await db.execute(sql`select key, expires_at from web_device_nonces order by key`)) as unknown as { rows?: { key: string; expires_at: Date }[] });
    const rows = keys.rows ?? (keys as unknown as { key: string; expires_at: Date }[]);
    expect(rows.map((r) => r.key)).not.toContain('old:nonce');
    expect(rows.map((r) => r.key)).toContain('live:nonce');
    // Kept for twice the allowed skew plus ten seconds from now.
    const mine = rows.find((r) => r.key.startsWith(device.id))!;
    const left = new Date(mine.expires_at).getTime() - Date.now();
    expect(left).toBeGreaterThan((2 * SKEW_SECONDS + 10) * 1000 - 5_000);
    expect(left).toBeLessThanOrEqual((2 * SKEW_SECONDS + 10) * 1000);
    expect(await nonces.remember('live:nonce')).toBe(false);
  });
});

describe('requireDevice', () => {
  const app = (nonces: NonceStore = databaseNonces(db)) => {
    const a = new Hono<DeviceEnv>();
    a.use(requireDevice(kernel, nonces));
    a.post('/api/device/decide', (c) => c.json({ device: c.var.device.id }));
    return a;
  };

  it('sets the device for the route, or answers 401 with WWW-Authenticate: Passport and the reason', async () => {
    const ok = await app().request('http://localhost/api/device/decide?x=1', { method: 'POST', headers: { authorization: `Passport ${await sign(call())}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ device: device.id });
    const no = await app().request('http://localhost/api/device/decide', { method: 'POST' });
    expect(no.status).toBe(401);
    expect(no.headers.get('www-authenticate')).toBe('Passport');
    expect(((await no.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('lets an error that is not a refusal through (a 500, not a 401 that would blame the device)', async () => {
    const broken: NonceStore = { remember: async () => { throw new Error('database gone'); } };
    const response = await app(broken).request('http://localhost/api/device/decide', { method: 'POST', headers: { authorization: `Passport ${await sign(call())}` } });
    expect(response.status).toBe(500);
  });
});

describe('pairing codes', () => {
  beforeEach(async () => {
    await db.execute(sql`delete from web_device_pairings`);
  });

  it('makes a twelve-character Crockford base32 code for ten minutes by default, stored only as a hash', async () => {
    const before = Date.now();
    const made = await createPairingCode(db, { approverId, name: '  Desk Passport ' });
    expect(made.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(made).toMatchObject({ approverId, name: 'Desk Passport' });
    expect(made.expiresAt.getTime()).toBeGreaterThanOrEqual(before + PAIRING_MINUTES * 60_000);
    expect(made.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + PAIRING_MINUTES * 60_000);
    const stored = JSON.stringify(await db.execute(sql`select * from web_device_pairings`));
    expect(stored).not.toContain(made.code);
    expect(stored).not.toContain(made.code.replaceAll('-', ''));
    expect((await createPairingCode(db, { approverId, name: '   ' })).name).toBeNull();
    expect((await createPairingCode(db, { approverId })).name).toBeNull();
    const codes = new Set(await Promise.all(Array.from({ length: 20 }, async () => (await createPairingCode(db, { approverId })).code)));
    expect(codes.size).toBe(20);
  });

  it('refuses a lifetime outside 1-60 whole minutes and a name that is too long or not printable', async () => {
    for (const ttlMinutes of [0, 61, 1.5, -1]) {
      await expect(createPairingCode(db, { approverId, ttlMinutes })).rejects.toMatchObject({ code: 'bad_request', message: `a pairing code lives 1 to 60 minutes, not ${ttlMinutes}` });
    }
    for (const ttlMinutes of [1, 60]) expect((await createPairingCode(db, { approverId, ttlMinutes })).expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + ttlMinutes * 60_000);
    for (const name of ['x'.repeat(65), 'bad\u0007name', 'hidden\u200bname']) {
      await expect(createPairingCode(db, { approverId, name })).rejects.toMatchObject({ code: 'bad_request', message: 'a device name must be 1-64 printable characters, e.g. "Desk Passport"' });
    }
    expect((await createPairingCode(db, { approverId, name: 'y'.repeat(64) })).name).toBe('y'.repeat(64));
  });

  it('reads a code typed loosely: any case, spaces or dashes, O for 0 and I or L for 1', async () => {
    expect(normalizeCode(' 7k2m-q9xd 3htw ')).toBe('7K2MQ9XD3HTW');
    expect(normalizeCode('oOiIlL-10')).toBe('00111110');
    const { code } = await createPairingCode(db, { approverId, name: 'Desk' });
    const typed = code.toLowerCase().replaceAll('-', ' ').replaceAll('0', 'o').replaceAll('1', 'l');
    expect(await claimPairingCode(db, typed)).toEqual({ approverId, name: 'Desk' });
  });

  it('claims a code once; says whether an unclaimable code is used, expired or unknown; gives a claimed code back', async () => {
    const { code } = await createPairingCode(db, { approverId, name: 'Desk' });
    expect(await claimPairingCode(db, code)).toEqual({ approverId, name: 'Desk' });
    expect(await claimPairingCode(db, code)).toBeNull();
    expect(await pairingCodeState(db, code)).toBe('used');
    await releasePairingCode(db, code);
    expect(await claimPairingCode(db, code)).toEqual({ approverId, name: 'Desk' });
    const old = await createPairingCode(db, { approverId });
    await db.execute(sql`update web_device_pairings set expires_at = now() - interval '1 second' where used_at is null`);
    expect(await claimPairingCode(db, old.code)).toBeNull();
    expect(await pairingCodeState(db, old.code)).toBe('expired');
    expect(await claimPairingCode(db, 'ZZZZ-ZZZZ-ZZZZ')).toBeNull();
    expect(await pairingCodeState(db, 'ZZZZ-ZZZZ-ZZZZ')).toBe('unknown');
  });
});
