import { compactVerify, errors, importJWK, type JWK } from 'jose';
import type { ApprovalDecision } from '../types.ts';
import { KernelError } from '../errors.ts';
import { approvalSigningBytes, checkDecision, checkDigest } from './challenge.ts';
import type { DeviceReceipt } from './receipt-types.ts';

export interface DeviceEvidenceInput {
  jws: string;
  digest: string;
  decision: ApprovalDecision;
  /** The device's Ed25519 public key as paired (`devices.public_jwk`). */
  publicJwk: JWK;
  /** The paired device's id; when the payload names a device it must be this one. */
  deviceId: string;
}

/**
 * Verifies a paired device's decision: a compact JWS, alg pinned to EdDSA (Ed25519), whose payload is either the
 * approval signing bytes themselves or the JSON `{digest, decision, deviceId, iat}`. Both forms bind the digest and
 * the decision; the raw form starts with "countersign/approval/v1\0", which no JSON object does, so they cannot be
 * confused. Throws KernelError('evidence_refused') saying why otherwise.
 */
export async function verifyDeviceEvidence(input: DeviceEvidenceInput): Promise<{ receipt: DeviceReceipt }> {
  checkDigest(input.digest);
  checkDecision(input.decision);
  const payload = await verifyJws(input.jws, input.publicJwk);
  checkPayload(payload, input);
  return {
    receipt: { kind: 'device', version: 1, deviceId: input.deviceId, digest: input.digest, decision: input.decision, jws: input.jws },
  };
}

async function verifyJws(jws: string, publicJwk: JWK): Promise<Uint8Array> {
  if (typeof jws !== 'string' || jws.split('.').length !== 3) {
    refuse('the device evidence is not a compact JWS (three base64url parts separated by dots)');
  }
  if (publicJwk?.kty !== 'OKP' || publicJwk.crv !== 'Ed25519' || typeof publicJwk.x !== 'string' || 'd' in publicJwk) {
    refuse('the paired device key is not an Ed25519 public JWK (kty OKP, crv Ed25519, x); pair the device again');
  }
  let key: CryptoKey | Uint8Array;
  try {
    key = await importJWK(publicJwk, 'EdDSA');
  } catch (error) {
    refuse(`the paired device key cannot be imported: ${(error as Error).message}; pair the device again`);
  }
  try {
    const { payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] });
    return payload;
  } catch (error) {
    if (error instanceof errors.JOSEAlgNotAllowed) refuse('the device evidence must be signed with EdDSA (Ed25519); other algorithms, "none" included, are refused');
    if (error instanceof errors.JWSSignatureVerificationFailed) refuse("bad signature: the device evidence does not verify with the paired device's key");
    refuse(`the device evidence is not a valid JWS: ${(error as Error).message}`);
  }
}

function checkPayload(payload: Uint8Array, input: DeviceEvidenceInput): void {
  const expected = approvalSigningBytes(input.digest, input.decision);
  if (Buffer.from(payload).equals(Buffer.from(expected))) return;
  let claims: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    claims = parsed as Record<string, unknown>;
  } catch {
    refuse('the device signed something other than this approval: the payload is neither the approval signing bytes nor a JSON object {digest, decision, deviceId, iat}');
  }
  if (claims.digest !== input.digest) refuse('wrong digest: the device signed a decision on another request');
  if (claims.decision !== input.decision) refuse(`wrong decision: the device signed ${JSON.stringify(claims.decision)}, not "${input.decision}"`);
  if (claims.deviceId !== undefined && claims.deviceId !== input.deviceId) {
    refuse(`the payload names device ${JSON.stringify(claims.deviceId)}, but the evidence was submitted for device ${input.deviceId}`);
  }
  if (claims.iat !== undefined && !Number.isFinite(claims.iat)) refuse('the payload field iat must be a number (seconds since 1970)');
}

function refuse(message: string): never {
  throw new KernelError('evidence_refused', message);
}
