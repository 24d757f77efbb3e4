import type { JsonObject, Receipt } from '../../kernel/index.ts';
import { verifyReceiptOffline } from '../audit/receipt.ts';

/**
 * Re-verifies the evidence recorded in an `approval.decided` entry with the key its enrollment entry holds: the
 * passkey's COSE public key or the paired device's JWK. Returns null when it holds, else what does not.
 */
export async function verifyEvidence(receipt: JsonObject, key: string | JsonObject, digest: string): Promise<string | null> {
  if (!receipt || typeof receipt !== 'object') return 'the entry holds no evidence';
  try {
    await verifyReceiptOffline(receipt as unknown as Receipt, key as never, digest);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
