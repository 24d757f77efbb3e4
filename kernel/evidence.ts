import { createHash } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { compactVerify, errors, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { ApprovalDecision, JsonObject } from './types.ts';
import type { Db } from './store/db.ts';
import { passkeys } from './store/schema.ts';
import { KernelError } from './errors.ts';

/**
 * Everything needed to re-verify one approver's decision later, without a database: the evidence exactly as the
 * approver's key produced it, plus what it was checked against. Stored whole in `decisions.evidence` and the audit log.
 */
export type Receipt = PasskeyReceipt | DeviceReceipt;

export interface PasskeyReceipt {
  kind: 'webauthn';
  version: 1;
  credentialId: string;
  digest: string;
  decision: ApprovalDecision;
  /** The decision's reason, when it had one: it is inside the signed bytes, so it is needed to re-verify. */
  reason?: string;
  origin: string;
  rpId: string;
  /** The assertion exactly as the browser returned it. */
  response: AuthenticationResponseJSON;
}

export interface DeviceReceipt {
  kind: 'device';
  version: 1;
  deviceId: string;
  digest: string;
  decision: ApprovalDecision;
  reason?: string;
  /** The compact JWS exactly as the device sent it. */
  jws: string;
}

const APPROVAL_DOMAIN = 'countersign/approval/v1\0';

/**
 * The bytes an approver's key signs for one decision on one request: `"countersign/approval/v1\0" || digest || "\0" ||
 * decision`, followed by `"\0" || reason` (UTF-8, exactly as sent, at most 2000 characters) when the decision has a
 * reason. Paired devices sign these bytes directly; passkeys sign their hash as the WebAuthn challenge. The decision
 * is inside, so evidence for "reject" can never count as "approve"; the reason is inside, so nobody between the
 * approver and the kernel can change or drop what the agent is told. No reason (null or "") adds nothing, so the
 * bytes of a decision without one are those of version 1 before reasons were signed.
 */
export function approvalSigningBytes(digest: string, decision: ApprovalDecision, reason: string | null = null): Uint8Array {
  checkDigest(digest);
  checkDecision(decision);
  if (reason !== null && (typeof reason !== 'string' || reason.length > 2000)) throw new KernelError('bad_request', 'a reason must be text of at most 2000 characters');
  return new TextEncoder().encode(`${APPROVAL_DOMAIN}${digest}\0${decision}${reason ? `\0${reason}` : ''}`);
}

/**
 * The WebAuthn challenge for a decision on a request: base64url(sha256(approvalSigningBytes(digest, decision, reason))).
 * @example approvalChallenge(requestDigest(body), 'approve') // "q2Xb...", 43 characters
 */
export function approvalChallenge(digest: string, decision: ApprovalDecision, reason: string | null = null): string {
  return createHash('sha256').update(approvalSigningBytes(digest, decision, reason)).digest('base64url');
}

/** Throws bad_request unless `digest` is a request digest (64 lowercase hex characters). */
export function checkDigest(digest: unknown): asserts digest is string {
  if (typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest)) return;
  const got = describe(digest);
  throw new KernelError('bad_request', `a request digest must be 64 lowercase hex characters (sha256), got ${got}; pass the digest the kernel computed for the request`);
}

/** Throws bad_request unless `decision` is 'approve', 'reject', 'mark_done' or 'run_again'. */
export function checkDecision(decision: unknown): asserts decision is ApprovalDecision {
  if (decision === 'approve' || decision === 'reject' || decision === 'mark_done' || decision === 'run_again') return;
  throw new KernelError('bad_request', `a decision must be "approve", "reject", "mark_done" or "run_again", got ${describe(decision)}`);
}

/** A registered passkey as the kernel stores it (`passkeys` table); `publicKey` is the COSE public key, base64url. */
export interface StoredPasskey {
  id: string;
  publicKey: string;
  counter: number;
}

export interface PasskeyEvidenceInput {
  /** The AuthenticationResponseJSON as received from the browser; its shape is checked here. */
  response: AuthenticationResponseJSON | JsonObject;
  digest: string;
  decision: ApprovalDecision;
  reason?: string | null;
  credential: StoredPasskey;
  expectedOrigin: string;
  expectedRPID: string;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url (A-Z a-z 0-9 - _, no padding)').min(1, 'must not be empty');

// The fields verification reads; anything else the browser adds is kept as-is in the receipt.
const assertionSchema = z.looseObject({
  id: base64url, rawId: base64url, type: z.literal('public-key'),
  clientExtensionResults: z.looseObject({}).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  response: z.looseObject({
    clientDataJSON: base64url, authenticatorData: base64url, signature: base64url, userHandle: base64url.optional(),
  }),
});

/**
 * Verifies a passkey assertion as evidence for `decision` on the request named by `digest`: the challenge must be
 * approvalChallenge(digest, decision), user verification is required, origin and RP ID must match and the signature
 * must verify with the registered key. Returns the counter to store (with updatePasskeyCounter) and the receipt.
 * Our checks run first so each refusal names its cause; the library then re-checks everything and verifies the signature.
 * A stored counter of 0 disables the counter check (authenticators that do not count; offline re-verification).
 * Throws KernelError('evidence_refused') saying exactly why otherwise.
 */
export async function verifyPasskeyEvidence(input: PasskeyEvidenceInput): Promise<{ newCounter: number; receipt: PasskeyReceipt }> {
  // Loaded on first use: WebAuthn and X.509 code takes ~200 ms to load, which every offline CLI command paid for nothing.
  const [{ verifyAuthenticationResponse }, { parseAuthenticatorData }] = await Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]);
  const { digest, decision, credential, expectedOrigin: origin, expectedRPID: rpId } = input;
  const reason = input.reason || null;
  const challenge = approvalChallenge(digest, decision, reason);
  const parsed = assertionSchema.safeParse(input.response);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    refuse(`the passkey assertion is malformed at ${path}: ${issue?.message ?? 'invalid'}; send the AuthenticationResponseJSON from navigator.credentials.get as-is`);
  }
  const response = parsed.data as AuthenticationResponseJSON;
  if (response.id !== credential.id) refuse(`the assertion was made with credential ${response.id}, not with the registered credential ${credential.id}`);
  const clientJson = () => Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8');
  const clientData = parseObject(clientJson, 'response.clientDataJSON is not base64url-encoded JSON object');
  if (clientData.type !== 'webauthn.get') refuse(`clientDataJSON.type is ${JSON.stringify(clientData.type)}, expected "webauthn.get"`);
  // The challenge derives from digest and decision, so evidence for another request or the other decision never counts.
  if (clientData.challenge !== challenge) {
    const other: ApprovalDecision = decision === 'approve' ? 'reject' : 'approve';
    if (clientData.challenge === approvalChallenge(digest, other)) refuse(`wrong challenge: this evidence is for "${other}" on this request, not for "${decision}"`);
    refuse('wrong challenge: this evidence was made for another request, or with another reason (its challenge does not derive from this request digest, decision and reason)');
  }
  if (clientData.origin !== origin) refuse(`origin mismatch: the assertion was made on ${JSON.stringify(clientData.origin)}, expected ${JSON.stringify(origin)}`);
  let authData: ReturnType<typeof parseAuthenticatorData>;
  try {
    authData = parseAuthenticatorData(new Uint8Array(Buffer.from(response.response.authenticatorData, 'base64url')));
  } catch (error) {
    refuse(`response.authenticatorData cannot be parsed: ${(error as Error).message}`);
  }
  if (!createHash('sha256').update(rpId).digest().equals(authData.rpIdHash)) refuse(`RP ID mismatch: the assertion was not made for RP ID ${JSON.stringify(rpId)}`);
  // Presence alone does not say who approved: the authenticator must have verified the user (PIN or biometric).
  if (!authData.flags.up) refuse('no user presence: the authenticator did not report a user present');
  if (!authData.flags.uv) refuse('no user verification: the authenticator did not verify the user (PIN or biometric); approvals require it');
  // Authenticators that do not count report 0 forever; anything else must move forward, or the key may be cloned.
  const [stored, presented] = [credential.counter, authData.counter];
  if ((presented > 0 || stored > 0) && presented <= stored) refuse(`counter did not increase (stored ${stored}, presented ${presented}): a replayed assertion or a cloned authenticator`);
  const publicKey = new Uint8Array(Buffer.from(credential.publicKey, 'base64url'));
  if (publicKey.length === 0) refuse('the registered credential has an empty public key; re-register the passkey');
  const options = { response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpId, requireUserVerification: true };
  const result = await verifyAuthenticationResponse({ ...options, credential: { id: credential.id, publicKey, counter: stored } })
    .catch((error: Error) => refuse(`WebAuthn verification failed: ${error.message}`));
  if (!result.verified) refuse("bad signature: the assertion does not verify with the approver's registered public key");
  return {
    newCounter: result.authenticationInfo.newCounter,
    receipt: { kind: 'webauthn', version: 1, credentialId: credential.id, digest, decision, ...(reason ? { reason } : {}), origin, rpId, response },
  };
}

/**
 * Stores a passkey's new signature counter with compare-and-swap: the row changes only if its counter is still
 * `oldCounter`. Returns false when another decision got there first or the passkey was removed; the caller must then
 * refuse the evidence, since two assertions with the same counter mean a replay or a cloned authenticator.
 */
export async function updatePasskeyCounter(db: Db, credentialId: string, oldCounter: number, newCounter: number): Promise<boolean> {
  for (const [name, value] of [['oldCounter', oldCounter], ['newCounter', newCounter]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new KernelError('bad_request', `${name} must be a non-negative integer, got ${String(value)}`);
  }
  const cas = and(eq(passkeys.id, credentialId), eq(passkeys.counter, oldCounter), isNull(passkeys.removedAt));
  const rows = await db.update(passkeys).set({ counter: newCounter, lastUsedAt: sql`now()` }).where(cas).returning({ id: passkeys.id });
  return rows.length === 1;
}

export interface DeviceEvidenceInput {
  jws: string;
  digest: string;
  decision: ApprovalDecision;
  reason?: string | null;
  /** The device's Ed25519 public key as paired (`devices.public_jwk`). */
  publicJwk: JWK;
  /** The paired device's id; when the payload names a device it must be this one. */
  deviceId: string;
}

/**
 * Verifies a paired device's decision: a compact JWS, alg pinned to EdDSA (Ed25519), whose payload is either the
 * approval signing bytes themselves or the JSON `{digest, decision, reason, deviceId, iat}`. Both forms bind the digest,
 * the decision and the reason (absent or null in the JSON when there is none); the raw form starts with "countersign/approval/v1\0", which no JSON object does, so they cannot be
 * confused. Throws KernelError('evidence_refused') saying why otherwise.
 */
export async function verifyDeviceEvidence(input: DeviceEvidenceInput): Promise<{ receipt: DeviceReceipt }> {
  const { jws, digest, decision, publicJwk, deviceId } = input;
  const reason = input.reason || null;
  const expected = approvalSigningBytes(digest, decision, reason);
  if (typeof jws !== 'string' || jws.split('.').length !== 3) refuse('the device evidence is not a compact JWS (three base64url parts separated by dots)');
  if (publicJwk?.kty !== 'OKP' || publicJwk.crv !== 'Ed25519' || typeof publicJwk.x !== 'string' || 'd' in publicJwk) {
    refuse('the paired device key is not an Ed25519 public JWK (kty OKP, crv Ed25519, x); pair the device again');
  }
  const key = await importJWK(publicJwk, 'EdDSA').catch((error: Error) => refuse(`the paired device key cannot be imported: ${error.message}; pair the device again`));
  const { payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] }).catch((error: Error) => {
    if (error instanceof errors.JOSEAlgNotAllowed) refuse('the device evidence must be signed with EdDSA (Ed25519); other algorithms, "none" included, are refused');
    if (error instanceof errors.JWSSignatureVerificationFailed) refuse("bad signature: the device evidence does not verify with the paired device's key");
    return refuse(`the device evidence is not a valid JWS: ${error.message}`);
  });
  if (!Buffer.from(payload).equals(Buffer.from(expected))) {
    const claims = parseObject(
      () => new TextDecoder('utf-8', { fatal: true }).decode(payload),
      'the device signed something other than this approval: the payload is neither the approval signing bytes nor a JSON object {digest, decision, deviceId, iat}',
    );
    if (claims.digest !== digest) refuse('wrong digest: the device signed a decision on another request');
    if (claims.decision !== decision) refuse(`wrong decision: the device signed ${JSON.stringify(claims.decision)}, not "${decision}"`);
    if ((claims.reason || null) !== reason) refuse('wrong reason: the reason sent with this decision is not the one the device signed');
    if (claims.deviceId !== undefined && claims.deviceId !== deviceId) refuse(`the payload names device ${JSON.stringify(claims.deviceId)}, but the evidence was submitted for device ${deviceId}`);
    if (claims.iat !== undefined && !Number.isFinite(claims.iat)) refuse('the payload field iat must be a number (seconds since 1970)');
  }
  return { receipt: { kind: 'device', version: 1, deviceId, digest, decision, ...(reason ? { reason } : {}), jws } };
}

/** The JSON object in `text()`, or evidence_refused with `message` when it does not decode, parse or is not an object. */
function parseObject(text: () => string, message: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text());
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // refused below
  }
  refuse(message);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 80 ? `a ${value.length}-character string` : JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

function refuse(message: string): never {
  throw new KernelError('evidence_refused', message);
}
