import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { requestMarker } from '../../kernel/grants.ts';
import { mintGrant, sha256Hex, verifyGrant, KernelError } from '../../kernel/index.ts';
import { exportKernelKeys, generateKernelKeys, importKernelKeys, importKernelPublicKey } from '../../gateway/keys.ts';

const digest = sha256Hex('request one');
const tool = 'stripe_create_refund';

async function failsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe(code);
  expect((error as KernelError).message).toMatch(pattern);
}

describe('kernel keys', () => {
  it('export and import round-trip to the same kid, and the kid is the JWK thumbprint', async () => {
    const keys = await generateKernelKeys();
    const json = await exportKernelKeys(keys);
    const again = await importKernelKeys(json);
    expect(again.kid).toBe(keys.kid);
    expect(JSON.parse(json)).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: keys.kid });
    expect(keys.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const grant = await mintGrant(again, { requestId: 'r1', digest, tool });
    await expect(verifyGrant(keys.publicKey, grant.jwt, { digest, tool })).resolves.toMatchObject({ jti: grant.jti, requestId: 'r1' });
    const publicOnly = await importKernelPublicKey(keys.publicJwk);
    await expect(verifyGrant(publicOnly, grant.jwt, { digest, tool })).resolves.toMatchObject({ jti: grant.jti });
    expect(keys.publicJwk).not.toHaveProperty('d');
  });

  it('refuses broken key files with config_error', async () => {
    await expect(importKernelKeys('{not json')).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/not valid JSON/) });
    await expect(importKernelKeys('{"kty":"EC"}')).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/Ed25519 private JWK/) });
    const json = JSON.parse(await exportKernelKeys(await generateKernelKeys())) as Record<string, string>;
    await expect(importKernelKeys(JSON.stringify({ ...json, kid: 'edited' }))).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/thumbprint/) });
  });
});

describe('grants', () => {
  it('carries digest, tool, jti, exp, iss and aud, signed EdDSA with the kernel kid', async () => {
    const keys = await generateKernelKeys();
    const now = new Date('2030-01-01T00:00:00Z');
    const grant = await mintGrant(keys, { requestId: 'r1', digest, tool, ttlSeconds: 30, now });
    expect(decodeProtectedHeader(grant.jwt)).toMatchObject({ alg: 'EdDSA', kid: keys.kid });
    expect(decodeJwt(grant.jwt)).toMatchObject({ digest, tool, jti: grant.jti, sub: 'r1', iss: 'countersign-kernel', aud: 'countersign-executor', exp: now.getTime() / 1000 + 30 });
    expect(grant.expiresAt.toISOString()).toBe('2030-01-01T00:00:30.000Z');
    const verified = await verifyGrant(keys.publicKey, grant.jwt, { digest, tool, now });
    expect(verified).toEqual({ jti: grant.jti, requestId: 'r1', expiresAt: grant.expiresAt });
    // The kernel signs with node:crypto (no WebCrypto job per call): what it writes is a JWS any JOSE library checks.
    const typ = 'countersign-grant+jwt';
    const checked = await jwtVerify(grant.jwt, keys.publicKey, { algorithms: ['EdDSA'], issuer: 'countersign-kernel', audience: 'countersign-executor', typ, currentDate: now });
    expect(checked.protectedHeader).toEqual({ alg: 'EdDSA', typ, kid: keys.kid });
    expect(checked.payload).toEqual({ digest, tool, iss: 'countersign-kernel', aud: 'countersign-executor', sub: 'r1', jti: grant.jti, iat: now.getTime() / 1000, exp: now.getTime() / 1000 + 30 });
  });

  it('refuses a kernel-signed grant whose expiry is not a number', async () => {
    const keys = await generateKernelKeys();
    const signed = await new SignJWT({ digest, tool, sub: 'r1', jti: 'j', exp: '2999-01-01' as unknown as number }).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' })
      .setIssuer('countersign-kernel').setAudience('countersign-executor').sign(keys.privateKey);
    await failsWith(verifyGrant(keys.publicKey, signed, { digest, tool }), 'grant_invalid', /not a Countersign grant: "exp" is not a number/);
  });

  it("derives a request's reconcile marker as before: the same Ed25519 signature WebCrypto makes, hashed", async () => {
    const keys = await generateKernelKeys();
    const webCrypto = await crypto.subtle.sign('Ed25519', keys.privateKey, new TextEncoder().encode('countersign/marker/v1\0req_1'));
    const expected = `cs1-${createHash('sha256').update(new Uint8Array(webCrypto)).digest('base64url').slice(0, 32)}`;
    expect(await requestMarker(keys, 'req_1')).toBe(expected);
    expect(await requestMarker(keys, 'req_2')).not.toBe(expected);
  });

  it('expires', async () => {
    const keys = await generateKernelKeys();
    const now = new Date('2030-01-01T00:00:00Z');
    const grant = await mintGrant(keys, { requestId: 'r1', digest, tool, ttlSeconds: 60, now });
    await expect(verifyGrant(keys.publicKey, grant.jwt, { digest, tool, now: new Date('2030-01-01T00:00:59Z') })).resolves.toBeTruthy();
    await failsWith(verifyGrant(keys.publicKey, grant.jwt, { digest, tool, now: new Date('2030-01-01T00:01:00Z') }), 'grant_expired', /expired/);
  });

  it('refuses a grant for another digest or another tool', async () => {
    const keys = await generateKernelKeys();
    const grant = await mintGrant(keys, { requestId: 'r1', digest, tool });
    await failsWith(verifyGrant(keys.publicKey, grant.jwt, { digest: sha256Hex('other'), tool }), 'digest_mismatch', /another request/);
    await failsWith(verifyGrant(keys.publicKey, grant.jwt, { digest, tool: 'stripe_create_payout' }), 'grant_invalid', /for tool "stripe_create_refund", not "stripe_create_payout"/);
  });

  it('refuses forged grants: another kernel, altered claims, HS256 and alg none', async () => {
    const keys = await generateKernelKeys();
    const impostor = await generateKernelKeys();
    const foreign = await mintGrant(impostor, { requestId: 'r1', digest, tool });
    await failsWith(verifyGrant(keys.publicKey, foreign.jwt, { digest, tool }), 'grant_invalid', /does not verify with the kernel key/);

    const genuine = await mintGrant(keys, { requestId: 'r1', digest, tool: 'github_create_issue' });
    const [header, , signature] = genuine.jwt.split('.');
    const claims = { ...decodeJwt(genuine.jwt), tool };
    const altered = `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
    await failsWith(verifyGrant(keys.publicKey, altered, { digest, tool }), 'grant_invalid', /does not verify/);

    const secret = base64url.decode(String(keys.publicJwk.x));
    const hs = await new SignJWT({ digest, tool }).setProtectedHeader({ alg: 'HS256', typ: 'countersign-grant+jwt' }).setJti('j').setSubject('r1')
      .setIssuer('countersign-kernel').setAudience('countersign-executor').setExpirationTime('1m').sign(secret);
    await failsWith(verifyGrant(keys.publicKey, hs, { digest, tool }), 'grant_invalid', /EdDSA/);

    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'countersign-grant+jwt' }))}.${base64url.encode(JSON.stringify(claims))}.`;
    await failsWith(verifyGrant(keys.publicKey, none, { digest, tool }), 'grant_invalid', /EdDSA|cannot be read/);
    await failsWith(verifyGrant(keys.publicKey, 'garbage', { digest, tool }), 'grant_invalid', /compact JWS/);
  });

  it('refuses a JWT the kernel signed for something else (wrong typ or audience)', async () => {
    const keys = await generateKernelKeys();
    const other = await new SignJWT({ digest, tool }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).setJti('j').setSubject('r1')
      .setIssuer('countersign-kernel').setAudience('countersign-executor').setExpirationTime('1m').sign(keys.privateKey);
    await failsWith(verifyGrant(keys.publicKey, other, { digest, tool }), 'grant_invalid', /not a Countersign grant/);
  });

  it('refuses bad mint input', async () => {
    const keys = await generateKernelKeys();
    await expect(mintGrant(keys, { requestId: 'r1', digest, tool, ttlSeconds: 0 })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(mintGrant(keys, { requestId: 'r1', digest: 'short', tool })).rejects.toMatchObject({ code: 'bad_request' });
    for (const ttlSeconds of [3601, 1.5, -1, Number.NaN]) {
      await expect(mintGrant(keys, { requestId: 'r1', digest, tool, ttlSeconds })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('1 to 3600 seconds') });
    }
    await expect(mintGrant(keys, { requestId: '', digest, tool })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('request id and the tool') });
    await expect(mintGrant(keys, { requestId: 'r1', digest, tool: '' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringContaining('request id and the tool') });
    // The bounds themselves are allowed, and the default lives a minute.
    const now = new Date('2030-01-01T00:00:00Z');
    for (const ttlSeconds of [1, 3600]) {
      const grant = await mintGrant(keys, { requestId: 'r1', digest, tool, ttlSeconds, now });
      expect(grant.expiresAt.getTime() - now.getTime()).toBe(ttlSeconds * 1000);
    }
    expect((await mintGrant(keys, { requestId: 'r1', digest, tool, now })).expiresAt.toISOString()).toBe('2030-01-01T00:01:00.000Z');
  });

  it('refuses a grant missing any claim it is checked by, another audience, and a grant that is not a string', async () => {
    const keys = await generateKernelKeys();
    const full = { digest, tool, sub: 'r1', jti: 'j', exp: Math.floor(Date.now() / 1000) + 60 };
    for (const claim of ['digest', 'tool', 'sub', 'jti', 'exp'] as const) {
      const { [claim]: _, ...claims } = full;
      const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' })
        .setIssuer('countersign-kernel').setAudience('countersign-executor').sign(keys.privateKey);
      await failsWith(verifyGrant(keys.publicKey, jwt, { digest, tool }), 'grant_invalid', new RegExp(`not a Countersign grant: missing required "${claim}" claim`));
    }
    const elsewhere = await new SignJWT(full).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' })
      .setIssuer('countersign-kernel').setAudience('some-other-service').sign(keys.privateKey);
    await failsWith(verifyGrant(keys.publicKey, elsewhere, { digest, tool }), 'grant_invalid', /not a Countersign grant.*aud/);
    await failsWith(verifyGrant(keys.publicKey, undefined as unknown as string, { digest, tool }), 'grant_invalid', /compact JWS/);
    await failsWith(verifyGrant(keys.publicKey, 'a.b.c.d', { digest, tool }), 'grant_invalid', /compact JWS/);
    await failsWith(verifyGrant(keys.publicKey, 'a.b.c', { digest, tool }), 'grant_invalid', /cannot be read/);
  });

  it('each grant has its own jti, and a grant missing a required claim is refused', async () => {
    const keys = await generateKernelKeys();
    const [a, b] = [await mintGrant(keys, { requestId: 'r1', digest, tool }), await mintGrant(keys, { requestId: 'r1', digest, tool })];
    expect(a.jti).not.toBe(b.jti);
    const noJti = await new SignJWT({ digest, tool }).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' }).setSubject('r1')
      .setIssuer('countersign-kernel').setAudience('countersign-executor').setExpirationTime('1m').sign(keys.privateKey);
    await failsWith(verifyGrant(keys.publicKey, noJti, { digest, tool }), 'grant_invalid', /not a Countersign grant.*jti/);
    const otherIssuer = await new SignJWT({ digest, tool }).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' }).setSubject('r1').setJti('j')
      .setIssuer('someone-else').setAudience('countersign-executor').setExpirationTime('1m').sign(keys.privateKey);
    await failsWith(verifyGrant(keys.publicKey, otherIssuer, { digest, tool }), 'grant_invalid', /not a Countersign grant.*iss/);
  });
});
