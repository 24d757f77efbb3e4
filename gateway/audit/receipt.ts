import type { JWK } from 'jose';
import { KernelError, checkDecision, checkDigest, verifyDeviceEvidence, verifyPasskeyEvidence, type Receipt } from '../../kernel/index.ts';

const PREFIX = 'receipt does not verify: ';

/**
 * Re-verifies a stored receipt without a database, for `countersign audit verify --offline`: the challenge is
 * recomputed from `digestRecomputedFromBody` (the digest of the stored request body, not the receipt's own copy) and
 * the decision, and the signature checked again with the kernel's own evidence checks. The counter check needs
 * history, so it is skipped here (the passkey is given stored counter 0, which disables it).
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

async function reverify(receipt: Receipt, key: string | JWK, digest: string): Promise<void> {
  if (receipt === null || typeof receipt !== 'object' || receipt.version !== 1) {
    refuse('not a Countersign receipt (expected an object with version 1)');
  }
  checkDigest(digest);
  checkDigest(receipt.digest);
  checkDecision(receipt.decision);
  if (receipt.digest !== digest) {
    refuse('the receipt names a different digest than the recomputed request body: the request or the receipt was altered');
  }
  const { decision } = receipt;
  // The reason is inside the signed bytes (kernel/evidence.ts); a receipt whose reason was edited does not verify.
  const reason = receipt.reason ?? null;
  if (receipt.kind === 'webauthn') {
    if (typeof key !== 'string') refuse('a webauthn receipt is verified with the passkey COSE public key (base64url string)');
    const credential = { id: receipt.credentialId, publicKey: key, counter: 0 };
    await verifyPasskeyEvidence({ response: receipt.response, digest, decision, reason, credential, expectedOrigin: receipt.origin, expectedRPID: receipt.rpId });
    return;
  }
  if (receipt.kind === 'device') {
    if (typeof key === 'string') refuse("a device receipt is verified with the device's public JWK (an object)");
    await verifyDeviceEvidence({ jws: receipt.jws, digest, decision, reason, publicJwk: key, deviceId: receipt.deviceId });
    return;
  }
  refuse(`unknown receipt kind ${JSON.stringify((receipt as { kind: unknown }).kind)}; expected "webauthn" or "device"`);
}

function refuse(message: string): never {
  throw new KernelError('evidence_refused', `${PREFIX}${message}`);
}
