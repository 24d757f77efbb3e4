import { describe, expect, it } from 'vitest';
import { KernelError, approvalChallenge, approvalSigningBytes, sha256Hex, verifyDeviceEvidence, verifyPasskeyEvidence } from '../../kernel/index.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';
import { createPassportKey } from '../support/passport-key.ts';

// A decision's reason is inside what the passkey or device signs (kernel/evidence.ts), so what the agent is told is
// what the approver wrote: changing, adding or dropping it between the approver and the kernel is refused.

const digest = sha256Hex('a request');
const origin = 'http://localhost:8787';
const rpId = 'localhost';

async function refused(run: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await run.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe('evidence_refused');
  expect((error as Error).message).toMatch(pattern);
}

describe('the reason in the signed bytes', () => {
  it('appends "\\0" and the reason; none (null or empty) leaves the version 1 bytes unchanged', () => {
    const text = (reason: string | null) => new TextDecoder().decode(approvalSigningBytes(digest, 'reject', reason));
    expect(text(null)).toBe(`countersign/approval/v1\0${digest}\0reject`);
    expect(text('')).toBe(text(null));
    expect(text('not this vendor')).toBe(`countersign/approval/v1\0${digest}\0reject\0not this vendor`);
    expect(approvalChallenge(digest, 'reject', 'a')).not.toBe(approvalChallenge(digest, 'reject', 'b'));
    expect(() => approvalSigningBytes(digest, 'reject', 'x'.repeat(2001))).toThrow(/at most 2000/);
  });

  it('passkeys: evidence for one reason does not verify with another, with none, or none with one', async () => {
    const authenticator = createSoftAuthenticator({ rpId, origin });
    const credential = authenticator.credentialForKernel();
    const verify = (response: unknown, reason: string | null, counter = 0) =>
      verifyPasskeyEvidence({ response: response as never, digest, decision: 'reject', reason, credential: { ...credential, counter }, expectedOrigin: origin, expectedRPID: rpId });
    const signed = authenticator.assert({ challenge: approvalChallenge(digest, 'reject', 'wrong vendor') });
    await refused(verify(signed, 'approved by finance, go ahead'), /another reason/);
    await refused(verify(signed, null), /another reason/);
    const { receipt } = await verify(signed, 'wrong vendor');
    expect(receipt).toMatchObject({ decision: 'reject', reason: 'wrong vendor' });
    const silent = authenticator.assert({ challenge: approvalChallenge(digest, 'reject') });
    await refused(verify(silent, 'a reason added later', 1), /another reason/);
  });

  it('devices: both payload forms bind the reason', async () => {
    const key = await createPassportKey('dev-1');
    const verify = (jws: string, reason: string | null) => verifyDeviceEvidence({ jws, digest, decision: 'reject', reason, publicJwk: key.publicJwk, deviceId: 'dev-1' });
    const claims = await key.sign(digest, 'reject', 'claims', 'wrong vendor');
    await expect(verify(claims, 'wrong vendor')).resolves.toMatchObject({ receipt: { reason: 'wrong vendor' } });
    await refused(verify(claims, 'changed on the way'), /wrong reason/);
    await refused(verify(claims, null), /wrong reason/);
    const bytes = await key.sign(digest, 'reject', 'bytes', 'wrong vendor');
    await expect(verify(bytes, 'wrong vendor')).resolves.toBeDefined();
    await refused(verify(bytes, 'changed on the way'), /something other than this approval/);
    await refused(verify(await key.sign(digest, 'reject', 'claims'), 'added on the way'), /wrong reason/);
  });
});
