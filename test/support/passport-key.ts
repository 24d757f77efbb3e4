import { randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { approvalSigningBytes, type ApprovalDecision } from '../../kernel/index.ts';

/** A software Passport device key for tests: signs approval decisions as compact EdDSA JWS, as a paired device does. */
export interface PassportKey {
  deviceId: string;
  publicJwk: JWK;
  /** Signs `{digest, decision, reason, deviceId, iat}` (form 'claims', the default) or the raw approval signing bytes ('bytes'). */
  sign(digest: string, decision: ApprovalDecision, form?: 'claims' | 'bytes', reason?: string | null): Promise<string>;
}

export async function createPassportKey(deviceId: string = randomUUID()): Promise<PassportKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const publicJwk = await exportJWK(publicKey);
  return {
    deviceId,
    publicJwk,
    async sign(digest, decision, form = 'claims', reason = null) {
      const payload =
        form === 'bytes'
          ? approvalSigningBytes(digest, decision, reason)
          : new TextEncoder().encode(JSON.stringify({ digest, decision, reason, deviceId, iat: Math.floor(Date.now() / 1000) }));
      return new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    },
  };
}

/**
 * A failed pairing-code guess (no session needed) against the server at `baseUrl`, sent with `forwarded` in
 * X-Forwarded-For: the throttled route the trustProxy tests count on. Returns the status.
 */
export async function pairingGuess(baseUrl: string, forwarded: string, publicJwk: JWK | JsonWebKey): Promise<number> {
  const res = await fetch(`${baseUrl}/api/v1/devices/pair`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded },
    body: JSON.stringify({ code: 'AAAA-BBBB-CCCC', publicJwk }),
  });
  await res.body?.cancel();
  return res.status;
}
