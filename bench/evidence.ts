import { createHash, createPublicKey, createVerify } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { jwtVerify } from 'jose';
import { approvalChallenge, mintGrant, sha256Hex, verifyGrant, verifyPasskeyEvidence } from '../kernel/index.ts';
import { generateKernelKeys } from '../gateway/keys.ts';
import { createSoftAuthenticator } from '../test/support/authenticator.ts';
import type { BenchResult } from './types.ts';

/** Mean microseconds per call of `fn` over `iterations`, after a short warm-up. */
async function perCall(iterations: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

/**
 * Cost of the checks on the approval and execution paths, each against the bare cryptographic operation it wraps,
 * so the overhead of our checks (shape, challenge, counters, claims) is visible.
 */
export async function run(): Promise<BenchResult[]> {
  const rpId = 'localhost';
  const origin = 'http://localhost:8787';
  const digest = sha256Hex('bench request');
  const authenticator = createSoftAuthenticator({ rpId, origin });
  const credential = authenticator.credentialForKernel();
  const response = authenticator.assert({ challenge: approvalChallenge(digest, 'approve') });

  const evidence = await perCall(500, () =>
    verifyPasskeyEvidence({ response, digest, decision: 'approve', credential, expectedOrigin: origin, expectedRPID: rpId }),
  );
  // Baseline: the ES256 signature check alone, over the same bytes.
  const cose = Buffer.from(credential.publicKey, 'base64url');
  const map = isoCBOR.decodeFirst<Map<number, Uint8Array>>(new Uint8Array(cose));
  const publicKey = createPublicKey({
    format: 'jwk',
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(map.get(-2)!).toString('base64url'), y: Buffer.from(map.get(-3)!).toString('base64url') },
  });
  const authData = Buffer.from(response.response.authenticatorData, 'base64url');
  const clientHash = createHash('sha256').update(Buffer.from(response.response.clientDataJSON, 'base64url')).digest();
  const signature = Buffer.from(response.response.signature, 'base64url');
  const bareEcdsa = await perCall(500, () => createVerify('sha256').update(Buffer.concat([authData, clientHash])).verify(publicKey, signature));

  const keys = await generateKernelKeys();
  const grant = await mintGrant(keys, { requestId: 'r1', digest, tool: 'stripe_create_refund', ttlSeconds: 600 });
  const verify = await perCall(2000, () => verifyGrant(keys.publicKey, grant.jwt, { digest, tool: 'stripe_create_refund' }));
  const bareJwt = await perCall(2000, () => jwtVerify(grant.jwt, keys.publicKey));
  const mint = await perCall(2000, (i) => mintGrant(keys, { requestId: `r${i}`, digest, tool: 'stripe_create_refund' }));

  return [
    { name: 'evidence.verify_passkey', value: evidence, unit: 'us/op', baseline: { name: 'bare ES256 verify', value: bareEcdsa, unit: 'us/op' }, target: '< 2000 us', goal: { max: 2000 } },
    { name: 'grants.verify', value: verify, unit: 'us/op', baseline: { name: 'bare jose jwtVerify', value: bareJwt, unit: 'us/op' }, target: '< 500 us', goal: { max: 500 } },
    { name: 'grants.mint', value: mint, unit: 'us/op', baseline: { name: 'grants.verify', value: verify, unit: 'us/op' }, target: '< 500 us', goal: { max: 500 } },
  ];
}
