import { describe, expect, it } from 'vitest';
import { generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { approvalChallenge, approvalSigningBytes, sha256Hex, verifyPasskeyEvidence, KernelError } from '../../kernel/index.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';

const rpId = 'localhost';
const origin = 'http://localhost:8787';
const digest = sha256Hex('request one');
const otherDigest = sha256Hex('request two');

async function refusal(promise: Promise<unknown>): Promise<KernelError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe('evidence_refused');
  return error as KernelError;
}

describe('approval challenge', () => {
  it('is base64url(sha256(preimage)) over domain, digest and decision', () => {
    const bytes = new TextDecoder().decode(approvalSigningBytes(digest, 'approve'));
    expect(bytes).toBe(`countersign/approval/v1\0${digest}\0approve`);
    expect(approvalChallenge(digest, 'approve')).toBe(Buffer.from(sha256Hex(bytes), 'hex').toString('base64url'));
  });

  it('differs per digest and per decision', () => {
    const challenges = new Set([
      approvalChallenge(digest, 'approve'),
      approvalChallenge(digest, 'reject'),
      approvalChallenge(otherDigest, 'approve'),
      approvalChallenge(otherDigest, 'reject'),
    ]);
    expect(challenges.size).toBe(4);
  });

  it('refuses something that is not a digest or a decision', () => {
    expect(() => approvalChallenge('abc', 'approve')).toThrow(/64 lowercase hex/);
    expect(() => approvalChallenge(digest, 'maybe' as 'approve')).toThrow(/"approve", "reject", "mark_done" or "run_again", got "maybe"/);
    // What was got is named, but a long string only by its length: it may be anything an attacker sent.
    expect(() => approvalChallenge('A'.repeat(64), 'approve')).toThrow(/got "AAAA/);
    expect(() => approvalChallenge('a'.repeat(81), 'approve')).toThrow(/got a 81-character string;/);
    expect(() => approvalChallenge(null as unknown as string, 'approve')).toThrow(/got null;/);
    expect(() => approvalChallenge(digest, 7 as unknown as 'approve')).toThrow(/got number$/);
    expect(() => approvalChallenge(digest, 'approve', 'x'.repeat(2001))).toThrow(/at most 2000 characters/);
    expect(approvalChallenge(digest, 'approve', 'x'.repeat(2000))).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const decision of ['approve', 'reject', 'mark_done', 'run_again'] as const) expect(approvalChallenge(digest, decision)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('input checks', () => {
  it('refuses a reason that is not text, and shows a long bad digest by its length only', () => {
    expect(() => approvalSigningBytes(digest, 'approve', 42 as never)).toThrow(/a reason must be text of at most 2000 characters/);
    expect(() => approvalChallenge('a'.repeat(80), 'approve')).toThrow(`got "${'a'.repeat(80)}";`);
    expect(() => approvalChallenge('a'.repeat(81), 'approve')).toThrow('got a 81-character string;');
  });
});

describe('soft authenticator', () => {
  it('registers with a response verifyRegistrationResponse accepts', async () => {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    const options = await generateRegistrationOptions({ rpName: 'Countersign', rpID: rpId, userName: 'jane@example.com' });
    const response = authenticator.register(options);
    const result = await verifyRegistrationResponse({ response, expectedChallenge: options.challenge, expectedOrigin: origin, expectedRPID: rpId });
    expect(result.verified).toBe(true);
    expect(result.registrationInfo?.credential.id).toBe(authenticator.credentialId);
    expect(Buffer.from(result.registrationInfo!.credential.publicKey).toString('base64url')).toBe(authenticator.credentialForKernel().publicKey);
  });

  it('asserts with a response verifyAuthenticationResponse accepts, and a tampered one it rejects', async () => {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    const stored = authenticator.credentialForKernel();
    const credential = { id: stored.id, publicKey: new Uint8Array(Buffer.from(stored.publicKey, 'base64url')), counter: 0 };
    const response = authenticator.assert({ challenge: 'abc' });
    const good = await verifyAuthenticationResponse({ response, expectedChallenge: 'abc', expectedOrigin: origin, expectedRPID: rpId, credential });
    expect(good.verified).toBe(true);
    expect(good.authenticationInfo.newCounter).toBe(1);
    const signature = Buffer.from(response.response.signature, 'base64url');
    signature[signature.length - 1] ^= 1;
    const tampered = { ...response, response: { ...response.response, signature: signature.toString('base64url') } };
    const bad = await verifyAuthenticationResponse({ response: tampered, expectedChallenge: 'abc', expectedOrigin: origin, expectedRPID: rpId, credential }).catch(() => ({ verified: false }));
    expect(bad.verified).toBe(false);
  });
});

describe('verifyPasskeyEvidence', () => {
  const setup = () => {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    const credential = authenticator.credentialForKernel();
    const verify = (response: unknown, decision: 'approve' | 'reject' = 'approve', counter = credential.counter, overrides: { origin?: string; rpId?: string; digest?: string } = {}) =>
      verifyPasskeyEvidence({
        response: response as never,
        digest: overrides.digest ?? digest,
        decision,
        credential: { ...credential, counter },
        expectedOrigin: overrides.origin ?? origin,
        expectedRPID: overrides.rpId ?? rpId,
      });
    return { authenticator, credential, verify };
  };

  it('accepts a genuine assertion over this digest and decision, and returns the counter and a whole receipt', async () => {
    const { authenticator, credential, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const { newCounter, receipt } = await verify(response);
    expect(newCounter).toBe(1);
    expect(receipt).toEqual({ kind: 'webauthn', version: 1, credentialId: credential.id, digest, decision: 'approve', origin, rpId, response });
  });

  it('refuses evidence for another request', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(otherDigest, 'approve') });
    expect((await refusal(verify(response))).message).toMatch(/wrong challenge: .*another request/);
  });

  it("refuses evidence for 'reject' when verifying 'approve', and the other way round", async () => {
    const { authenticator, verify } = setup();
    const rejecting = authenticator.assert({ challenge: approvalChallenge(digest, 'reject') });
    expect((await refusal(verify(rejecting, 'approve'))).message).toMatch(/this evidence is for "reject".*not for "approve"/);
    const approving = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    expect((await refusal(verify(approving, 'reject', 1))).message).toMatch(/for "approve".*not for "reject"/);
  });

  it('refuses an assertion without user verification', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') }, { userVerified: false });
    expect((await refusal(verify(response))).message).toMatch(/no user verification/);
  });

  it('refuses a wrong origin and a wrong RP ID', async () => {
    const { authenticator, verify } = setup();
    const phished = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') }, { origin: 'https://evil.example' });
    expect((await refusal(verify(phished))).message).toMatch(/origin mismatch: .*evil\.example/);
    const otherRp = authenticator.assert({ challenge: approvalChallenge(digest, 'approve'), rpId: 'evil.example' });
    expect((await refusal(verify(otherRp))).message).toMatch(/RP ID mismatch/);
  });

  it('refuses a replayed assertion (counter did not increase)', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const first = await verify(response, 'approve', 0);
    expect((await refusal(verify(response, 'approve', first.newCounter))).message).toMatch(/counter did not increase \(stored 1, presented 1\)/);
  });

  it('allows authenticators that never count (both counters 0)', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') }, { counterIncrement: 0 });
    expect((await verify(response, 'approve', 0)).newCounter).toBe(0);
  });

  it('refuses a bad signature, another credential, and malformed input', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const signature = Buffer.from(response.response.signature, 'base64url');
    signature[10] ^= 0xff;
    const forged = { ...response, response: { ...response.response, signature: signature.toString('base64url') } };
    expect((await refusal(verify(forged))).message).toMatch(/bad signature/);
    const stranger = createSoftAuthenticator({ rpId, origin }).assert({ challenge: approvalChallenge(digest, 'approve') });
    expect((await refusal(verify(stranger))).message).toMatch(/not with the registered credential/);
    expect((await refusal(verify({ id: 'x' }))).message).toMatch(/malformed at /);
    expect((await refusal(verify('nonsense'))).message).toMatch(/malformed/);
  });

  it('names authenticator data it cannot parse, and a verification the WebAuthn library itself gives up on', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const short = { ...response, response: { ...response.response, authenticatorData: Buffer.alloc(10).toString('base64url') } };
    expect((await refusal(verify(short))).message).toMatch(/^response\.authenticatorData cannot be parsed: .+/);
    const garbled = { ...response, response: { ...response.response, signature: Buffer.from([0x30, 0x02, 0x02]).toString('base64url') } };
    expect((await refusal(verify(garbled))).message).toMatch(/^WebAuthn verification failed: .+/);
  });

  it('refuses an authenticator that stops counting once it has counted (presented 0 against a stored counter)', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') }, { counterIncrement: 0 });
    expect((await refusal(verify(response, 'approve', 3))).message).toMatch(/counter did not increase \(stored 3, presented 0\)/);
  });

  it('refuses an assertion whose authenticator data does not report a user present, before the signature is checked', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const data = Buffer.from(response.response.authenticatorData, 'base64url');
    data[32] &= ~0x01; // flags byte after the 32-byte RP ID hash: clear UP, keep UV
    const absent = { ...response, response: { ...response.response, authenticatorData: data.toString('base64url') } };
    expect((await refusal(verify(absent))).message).toMatch(/^no user presence/);
  });

  it('refuses a registered credential with an empty public key, saying to re-register', async () => {
    const { authenticator, credential } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const input = { response: response as never, digest, decision: 'approve' as const, expectedOrigin: origin, expectedRPID: rpId };
    const error = await refusal(verifyPasskeyEvidence({ ...input, credential: { ...credential, publicKey: '' } }));
    expect(error.message).toBe('the registered credential has an empty public key; re-register the passkey');
  });

  it('names the field where an assertion is malformed, or (root) when it is not an object at all', async () => {
    const { verify } = setup();
    expect((await refusal(verify('nonsense'))).message).toMatch(/^the passkey assertion is malformed at \(root\): .+; send the AuthenticationResponseJSON/);
    expect((await refusal(verify({ id: 'x', rawId: 'x', type: 'public-key', response: {} }))).message).toMatch(/^the passkey assertion is malformed at response\.clientDataJSON: /);
  });

  it('refuses client data that is JSON but not an object (null, an array, a number), naming the field', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    for (const json of ['null', '[]', '5']) {
      const odd = { ...response, response: { ...response.response, clientDataJSON: Buffer.from(json).toString('base64url') } };
      expect((await refusal(verify(odd))).message, json).toBe('response.clientDataJSON is not base64url-encoded JSON object');
    }
  });

  it('refuses client data of a registration (type webauthn.create), saying which type it got', async () => {
    const { authenticator, verify } = setup();
    const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });
    const clientData = { ...JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString()), type: 'webauthn.create' };
    const created = { ...response, response: { ...response.response, clientDataJSON: Buffer.from(JSON.stringify(clientData)).toString('base64url') } };
    expect((await refusal(verify(created))).message).toBe('clientDataJSON.type is "webauthn.create", expected "webauthn.get"');
  });

  it("refuses an assertion signed by a different key presented under the registered credential's id", async () => {
    const { credential, verify } = setup();
    const impostor = createSoftAuthenticator({ rpId, origin }).assert({ challenge: approvalChallenge(digest, 'approve') });
    const relabelled = { ...impostor, id: credential.id, rawId: credential.id };
    expect((await refusal(verify(relabelled))).message).toMatch(/bad signature/);
  });
});
