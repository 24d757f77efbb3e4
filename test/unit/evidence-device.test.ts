import { describe, expect, it } from 'vitest';
import { CompactSign, SignJWT, base64url, exportJWK, generateKeyPair, type JWK } from 'jose';
import { approvalChallenge, approvalSigningBytes, sha256Hex, verifyDeviceEvidence, verifyPasskeyEvidence, KernelError, type Receipt } from '../../kernel/index.ts';
import { verifyReceiptOffline } from '../../gateway/audit/receipt.ts';
import { createPassportKey } from '../support/passport-key.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';

const digest = sha256Hex('request one');
const otherDigest = sha256Hex('request two');

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe('evidence_refused');
  expect((error as KernelError).message).toMatch(pattern);
}

describe('verifyDeviceEvidence', () => {
  it('accepts an EdDSA JWS over {digest, decision, deviceId, iat} and over the raw signing bytes', async () => {
    const key = await createPassportKey('dev-1');
    for (const form of ['claims', 'bytes'] as const) {
      const jws = await key.sign(digest, 'approve', form);
      const { receipt } = await verifyDeviceEvidence({ jws, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' });
      expect(receipt).toEqual({ kind: 'device', version: 1, deviceId: 'dev-1', digest, decision: 'approve', jws });
    }
  });

  it('refuses a signature by another key', async () => {
    const key = await createPassportKey('dev-1');
    const other = await createPassportKey('dev-1');
    const jws = await other.sign(digest, 'approve');
    await refused(verifyDeviceEvidence({ jws, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' }), /bad signature/);
  });

  it('refuses evidence for another digest, another decision, or another device', async () => {
    const key = await createPassportKey('dev-1');
    const check = (jws: string, deviceId = 'dev-1') => verifyDeviceEvidence({ jws, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId });
    await refused(check(await key.sign(otherDigest, 'approve')), /wrong digest/);
    await refused(check(await key.sign(digest, 'reject')), /wrong decision/);
    await refused(check(await key.sign(otherDigest, 'approve', 'bytes')), /neither the approval signing bytes/);
    await refused(check(await key.sign(digest, 'reject', 'bytes')), /neither the approval signing bytes/);
    await refused(check(await key.sign(digest, 'approve'), 'dev-2'), /names device "dev-1"/);
  });

  it("refuses alg 'none' and HS256, whatever the payload", async () => {
    const key = await createPassportKey('dev-1');
    const payload = base64url.encode(approvalSigningBytes(digest, 'approve'));
    const unsigned = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${payload}.`;
    await refused(verifyDeviceEvidence({ jws: unsigned, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' }), /EdDSA/);
    // HS256 keyed with the public key's bytes: the classic algorithm-confusion forgery.
    const secret = base64url.decode(String(key.publicJwk.x));
    const hs = await new CompactSign(approvalSigningBytes(digest, 'approve')).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    await refused(verifyDeviceEvidence({ jws: hs, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' }), /EdDSA/);
  });

  it('refuses a JWS by a non-Ed25519 key and a device key that is not an Ed25519 public JWK', async () => {
    const key = await createPassportKey('dev-1');
    const { privateKey } = await generateKeyPair('ES256');
    const es = await new SignJWT({ digest, decision: 'approve' }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    await refused(verifyDeviceEvidence({ jws: es, digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' }), /EdDSA/);
    await refused(verifyDeviceEvidence({ jws: es, digest, decision: 'approve', publicJwk: { kty: 'EC', crv: 'P-256' }, deviceId: 'dev-1' }), /not an Ed25519 public JWK/);
    await refused(verifyDeviceEvidence({ jws: 'not-a-jws', digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' }), /not a compact JWS/);
  });
});

describe('verifyDeviceEvidence: the claims form and the paired key, field by field', () => {
  const sign = async (claims: Record<string, unknown>) => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    return { jws, publicJwk: await exportJWK(publicKey) };
  };
  const check = (jws: string, publicJwk: JWK, reason: string | null = null) => verifyDeviceEvidence({ jws, digest, decision: 'approve', reason, publicJwk, deviceId: 'dev-1' });

  it('accepts claims that name no device and no iat, and refuses an iat that is not a number', async () => {
    const bare = await sign({ digest, decision: 'approve' });
    await expect(check(bare.jws, bare.publicJwk)).resolves.toMatchObject({ receipt: { deviceId: 'dev-1', jws: bare.jws } });
    const late = await sign({ digest, decision: 'approve', iat: 'yesterday' });
    await refused(check(late.jws, late.publicJwk), /^the payload field iat must be a number/);
  });

  it('binds the reason: a signed reason must be the one sent, and a signed null or "" means none', async () => {
    const given = await sign({ digest, decision: 'approve', reason: 'looks right' });
    await expect(check(given.jws, given.publicJwk, 'looks right')).resolves.toMatchObject({ receipt: { reason: 'looks right' } });
    await refused(check(given.jws, given.publicJwk, 'something else'), /^wrong reason/);
    await refused(check(given.jws, given.publicJwk), /^wrong reason/);
    const empty = await sign({ digest, decision: 'approve', reason: '' });
    await expect(check(empty.jws, empty.publicJwk)).resolves.not.toHaveProperty('receipt.reason');
  });

  it('refuses claims that are not valid UTF-8, even inside a field nobody reads', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const text = new TextEncoder().encode(JSON.stringify({ digest, decision: 'approve', note: 'X' }));
    text[text.lastIndexOf(0x58)] = 0xff; // the X becomes a byte that is not UTF-8
    const jws = await new CompactSign(text).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    await refused(check(jws, await exportJWK(publicKey)), /^the device signed something other than this approval/);
  });

  it('refuses a JWS that is not text, a key of another curve or none, and names a bad signature as such', async () => {
    const good = await sign({ digest, decision: 'approve' });
    await refused(check(42 as never, good.publicJwk), /^the device evidence is not a compact JWS/);
    await refused(check(good.jws, { ...good.publicJwk, crv: 'X25519' }), /^the paired device key is not an Ed25519 public JWK/);
    await refused(check(good.jws, { ...good.publicJwk, kty: 'EC' }), /^the paired device key is not an Ed25519 public JWK/);
    await refused(check(good.jws, undefined as never), /^the paired device key is not an Ed25519 public JWK/);
    const other = await sign({ digest, decision: 'approve' });
    const error = await check(good.jws, other.publicJwk).catch((e: KernelError) => e);
    expect((error as KernelError).message).toBe("bad signature: the device evidence does not verify with the paired device's key");
  });

  it('refuses a paired key holding a private part, a key that cannot be imported, and a JWS that does not parse', async () => {
    const good = await sign({ digest, decision: 'approve' });
    await refused(check(good.jws, { ...good.publicJwk, d: good.publicJwk.x }), /^the paired device key is not an Ed25519 public JWK/);
    await refused(check(good.jws, { kty: 'OKP', crv: 'Ed25519' }), /^the paired device key is not an Ed25519 public JWK/);
    await refused(check(good.jws, { ...good.publicJwk, x: 'AA' }), /^the paired device key cannot be imported: /);
    await refused(check('a.b.c', good.publicJwk), /^the device evidence is not a valid JWS: /);
  });
});

describe('verifyReceiptOffline', () => {
  const rpId = 'localhost';
  const origin = 'http://localhost:8787';

  async function passkeyReceipt() {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    authenticator.assert({ challenge: 'warm-up' }); // a counter above 0, so offline must ignore counters
    const credential = authenticator.credentialForKernel();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const { receipt } = await verifyPasskeyEvidence({ response, digest, decision: 'approve', credential, expectedOrigin: origin, expectedRPID: rpId });
    return { receipt, publicKey: credential.publicKey };
  }

  it('re-verifies a passkey receipt, from its JSON form, without the counter', async () => {
    const { receipt, publicKey } = await passkeyReceipt();
    const stored = JSON.parse(JSON.stringify(receipt)) as Receipt;
    await expect(verifyReceiptOffline(stored, publicKey, digest)).resolves.toBeUndefined();
  });

  it('fails after altering one byte of the signature, the authenticator data or the client data', async () => {
    const { receipt, publicKey } = await passkeyReceipt();
    if (receipt.kind !== 'webauthn') throw new Error('expected a webauthn receipt');
    for (const field of ['signature', 'authenticatorData', 'clientDataJSON'] as const) {
      const bytes = Buffer.from(receipt.response.response[field], 'base64url');
      bytes[bytes.length - 2] ^= 0x01;
      const altered: Receipt = { ...receipt, response: { ...receipt.response, response: { ...receipt.response.response, [field]: bytes.toString('base64url') } } };
      await refused(verifyReceiptOffline(altered, publicKey, digest), /receipt does not verify/);
    }
  });

  it('fails when the request body changed (recomputed digest differs) or the decision was flipped', async () => {
    const { receipt, publicKey } = await passkeyReceipt();
    await refused(verifyReceiptOffline(receipt, publicKey, otherDigest), /different digest/);
    await refused(verifyReceiptOffline({ ...receipt, digest: otherDigest }, publicKey, otherDigest), /another request/);
    await refused(verifyReceiptOffline({ ...receipt, decision: 'reject' }, publicKey, digest), /for "approve".*not for "reject"/);
  });

  it('re-verifies a device receipt and fails after altering one byte of its JWS', async () => {
    const key = await createPassportKey('dev-1');
    const { receipt } = await verifyDeviceEvidence({ jws: await key.sign(digest, 'approve'), digest, decision: 'approve', publicJwk: key.publicJwk, deviceId: 'dev-1' });
    await expect(verifyReceiptOffline(receipt, key.publicJwk, digest)).resolves.toBeUndefined();
    if (receipt.kind !== 'device') throw new Error('expected a device receipt');
    const [header, payload, signature] = receipt.jws.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] ^= 0x01;
    const altered: Receipt = { ...receipt, jws: `${header}.${payload}.${bytes.toString('base64url')}` };
    await refused(verifyReceiptOffline(altered, key.publicJwk, digest), /bad signature/);
    await refused(verifyReceiptOffline(receipt, 'a-cose-key', digest), /public JWK/);
  });
});
