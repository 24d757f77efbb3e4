import { createHash } from 'node:crypto';
import { verifyAuthenticationResponse, type AuthenticationResponseJSON } from '@simplewebauthn/server';
import { parseAuthenticatorData } from '@simplewebauthn/server/helpers';
import type { ApprovalDecision, JsonObject } from '../types.ts';
import { KernelError } from '../errors.ts';
import { approvalChallenge, checkDecision, checkDigest } from './challenge.ts';
import { parseAssertion } from './assertion-shape.ts';
import type { PasskeyReceipt } from './receipt-types.ts';

/** A registered passkey as the kernel stores it (`passkeys` table). */
export interface StoredPasskey {
  id: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
}

export interface PasskeyEvidenceInput {
  /** The AuthenticationResponseJSON as received from the browser; its shape is checked here. */
  response: AuthenticationResponseJSON | JsonObject;
  digest: string;
  decision: ApprovalDecision;
  credential: StoredPasskey;
  expectedOrigin: string;
  expectedRPID: string;
}

/**
 * Verifies a passkey assertion as evidence for `decision` on the request named by `digest`: the challenge must be
 * approvalChallenge(digest, decision), user verification is required, origin and RP ID must match and the signature
 * must verify with the registered key. Returns the counter to store (with updatePasskeyCounter) and the receipt.
 * Throws KernelError('evidence_refused') saying exactly why otherwise.
 */
export async function verifyPasskeyEvidence(input: PasskeyEvidenceInput): Promise<{ newCounter: number; receipt: PasskeyReceipt }> {
  checkDigest(input.digest);
  checkDecision(input.decision);
  const response = parseAssertion(input.response);
  const newCounter = await checkAssertion(response, input, input.credential.counter);
  const receipt: PasskeyReceipt = {
    kind: 'webauthn',
    version: 1,
    credentialId: input.credential.id,
    digest: input.digest,
    decision: input.decision,
    origin: input.expectedOrigin,
    rpId: input.expectedRPID,
    response,
  };
  return { newCounter, receipt };
}

/**
 * The checks shared by live and offline verification. Ours run first so each refusal names its cause; the library
 * then re-checks everything and verifies the signature. `storedCounter` 0 disables the counter check (offline).
 */
export async function checkAssertion(
  response: AuthenticationResponseJSON,
  expected: { digest: string; decision: ApprovalDecision; credential: StoredPasskey; expectedOrigin: string; expectedRPID: string },
  storedCounter: number,
): Promise<number> {
  const { digest, decision, credential, expectedOrigin, expectedRPID } = expected;
  if (response.id !== credential.id) {
    refuse(`the assertion was made with credential ${response.id}, not with the registered credential ${credential.id}`);
  }
  const clientData = decodeClientData(response.response.clientDataJSON);
  if (clientData.type !== 'webauthn.get') refuse(`clientDataJSON.type is ${JSON.stringify(clientData.type)}, expected "webauthn.get"`);
  const challenge = approvalChallenge(digest, decision);
  if (clientData.challenge !== challenge) {
    const other: ApprovalDecision = decision === 'approve' ? 'reject' : 'approve';
    if (clientData.challenge === approvalChallenge(digest, other)) {
      refuse(`wrong challenge: this evidence is for "${other}" on this request, not for "${decision}"`);
    }
    refuse('wrong challenge: this evidence was made for another request (its challenge does not derive from this request digest)');
  }
  if (clientData.origin !== expectedOrigin) {
    refuse(`origin mismatch: the assertion was made on ${JSON.stringify(clientData.origin)}, expected ${JSON.stringify(expectedOrigin)}`);
  }
  const authData = parseAuthData(response.response.authenticatorData);
  const rpIdHash = createHash('sha256').update(expectedRPID).digest();
  if (!rpIdHash.equals(authData.rpIdHash)) refuse(`RP ID mismatch: the assertion was not made for RP ID ${JSON.stringify(expectedRPID)}`);
  if (!authData.flags.up) refuse('no user presence: the authenticator did not report a user present');
  if (!authData.flags.uv) refuse('no user verification: the authenticator did not verify the user (PIN or biometric); approvals require it');
  // Authenticators that do not count report 0 forever; anything else must move forward, or the key may be cloned.
  if ((authData.counter > 0 || storedCounter > 0) && authData.counter <= storedCounter) {
    refuse(`counter did not increase (stored ${storedCounter}, presented ${authData.counter}): a replayed assertion or a cloned authenticator`);
  }
  let verified: boolean;
  let newCounter: number;
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin,
      expectedRPID,
      credential: { id: credential.id, publicKey: decodePublicKey(credential.publicKey), counter: storedCounter },
      requireUserVerification: true,
    });
    verified = result.verified;
    newCounter = result.authenticationInfo.newCounter;
  } catch (error) {
    if (error instanceof KernelError) throw error;
    refuse(`WebAuthn verification failed: ${(error as Error).message}`);
  }
  if (!verified) refuse("bad signature: the assertion does not verify with the approver's registered public key");
  return newCounter;
}

function decodeClientData(encoded: string): { type: unknown; challenge: unknown; origin: unknown } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const record = parsed as Record<string, unknown>;
      return { type: record.type, challenge: record.challenge, origin: record.origin };
    }
  } catch {
    // fall through to the refusal below
  }
  refuse('response.clientDataJSON is not base64url-encoded JSON object');
}

function parseAuthData(encoded: string): ReturnType<typeof parseAuthenticatorData> {
  try {
    return parseAuthenticatorData(new Uint8Array(Buffer.from(encoded, 'base64url')));
  } catch (error) {
    refuse(`response.authenticatorData cannot be parsed: ${(error as Error).message}`);
  }
}

function decodePublicKey(encoded: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(Buffer.from(encoded, 'base64url'));
  if (bytes.length === 0) refuse('the registered credential has an empty public key; re-register the passkey');
  return bytes;
}

function refuse(message: string): never {
  throw new KernelError('evidence_refused', message);
}
