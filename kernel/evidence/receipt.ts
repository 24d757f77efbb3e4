import type { JWK } from 'jose';
import { KernelError } from '../errors.ts';
import { checkDecision, checkDigest } from './challenge.ts';
import { parseAssertion } from './assertion-shape.ts';
import { checkAssertion } from './passkey.ts';
import { verifyDeviceEvidence } from './device.ts';
import type { Receipt } from './receipt-types.ts';

/**
 * Re-verifies a stored receipt without a database, for `countersign audit verify --offline`: the challenge is
 * recomputed from `digestRecomputedFromBody` (the digest of the stored request body, not the receipt's own copy) and
 * the decision, and the signature checked again. The counter check needs history, so it is skipped here.
 * `key` is the passkey's COSE public key (base64url) for a webauthn receipt, the device's public JWK for a device one.
 * Throws KernelError('evidence_refused') saying what does not hold.
 */
export async function verifyReceiptOffline(receipt: Receipt, key: string | JWK, digestRecomputedFromBody: string): Promise<void> {
  try {
    await reverify(receipt, key, digestRecomputedFromBody);
  } catch (error) {
    if (error instanceof KernelError && !error.message.startsWith(PREFIX)) {
      throw new KernelError('evidence_refused', `${PREFIX}${error.message}`, undefined, { cause: error });
    }
    throw error;
  }
}

async function reverify(receipt: Receipt, key: string | JWK, digestRecomputedFromBody: string): Promise<void> {
  if (receipt === null || typeof receipt !== 'object' || receipt.version !== 1) {
    refuse('not a Countersign receipt (expected an object with version 1)');
  }
  checkDigest(digestRecomputedFromBody);
  checkDigest(receipt.digest);
  checkDecision(receipt.decision);
  if (receipt.digest !== digestRecomputedFromBody) {
    refuse('the receipt names a different digest than the recomputed request body: the request or the receipt was altered');
  }
  if (receipt.kind === 'webauthn') {
    if (typeof key !== 'string') refuse('a webauthn receipt is verified with the passkey COSE public key (base64url string)');
    const response = parseAssertion(receipt.response);
    const credential = { id: receipt.credentialId, publicKey: key, counter: 0 };
    const expected = { digest: digestRecomputedFromBody, decision: receipt.decision, credential, expectedOrigin: receipt.origin, expectedRPID: receipt.rpId };
    await checkAssertion(response, expected, 0);
    return;
  }
  if (receipt.kind === 'device') {
    if (typeof key === 'string') refuse("a device receipt is verified with the device's public JWK (an object)");
    await verifyDeviceEvidence({ jws: receipt.jws, digest: digestRecomputedFromBody, decision: receipt.decision, publicJwk: key, deviceId: receipt.deviceId });
    return;
  }
  refuse(`unknown receipt kind ${JSON.stringify((receipt as { kind: unknown }).kind)}; expected "webauthn" or "device"`);
}

const PREFIX = 'receipt does not verify: ';

function refuse(message: string): never {
  throw new KernelError('evidence_refused', `${PREFIX}${message}`);
}
