import type { Json, JsonObject, Receipt } from '../../kernel/index.ts';
import { verifyReceiptOffline } from '../audit/receipt.ts';
import { type BundleHeader } from '../audit/bundle.ts';

/**
 * Re-verifies the evidence recorded in an `approval.decided` audit entry with the keys in the bundle header: the
 * passkey's COSE public key or the paired device's JWK. Returns null when it holds, else what does not.
 */
export async function verifyReceiptForBundle(data: Json, header: BundleHeader, recomputedDigest: string | null): Promise<string | null> {
  const entry = data as JsonObject;
  const receipt = entry.receipt as unknown as Receipt | undefined;
  if (!receipt || typeof receipt !== 'object') return 'the entry holds no receipt';
  const keyId = String(entry.keyId ?? '');
  const passkey = header.passkeys.find((p) => p.id === keyId);
  const device = header.devices.find((d) => d.id === keyId);
  const key = passkey ? passkey.publicKey : device ? device.publicJwk : null;
  if (!key) return `the bundle holds no public key for ${keyId}`;
  if (!recomputedDigest) return 'the request this approval is for lies outside the exported range; export with an earlier --since';
  try {
    await verifyReceiptOffline(receipt, key as never, recomputedDigest);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
