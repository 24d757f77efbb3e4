import { createHash, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import type { JsonObject } from '../types.ts';
import { jcs } from '../digest.ts';
import { KernelError } from '../errors.ts';

/** Signs audit checkpoints with the kernel's Ed25519 key, which never leaves it; verifiers get `publicJwk`. */
export interface CheckpointSigner {
  kid: string;
  /** Returns a compact JWS (EdDSA) over `payload`. */
  sign(payload: Uint8Array): Promise<string>;
  publicJwk: JsonObject;
}

/** A public key's id: its `kid` when set, else its RFC 7638 SHA-256 thumbprint (Ed25519 members crv, kty, x). */
export function jwkKid(jwk: JsonObject): string {
  if (typeof jwk.kid === 'string' && jwk.kid.length > 0) return jwk.kid;
  return createHash('sha256').update(jcs({ crv: ed25519(jwk).crv, kty: 'OKP', x: jwk.x })).digest('base64url');
}

function ed25519(jwk: JsonObject): JsonObject {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new KernelError('bad_request', 'checkpoint keys are Ed25519 public JWKs (kty "OKP", crv "Ed25519", x); the kernel key is one');
  }
  return jwk;
}

/**
 * A CheckpointSigner over the kernel's private key.
 * @example const signer = createJwsSigner(keys.privateKey, keys.publicJwk);
 */
export function createJwsSigner(privateKey: CryptoKey | KeyObject, publicJwk: JsonObject): CheckpointSigner {
  const { d, ...publicOnly } = ed25519(publicJwk);
  if (d !== undefined) throw new KernelError('bad_request', 'createJwsSigner got a private JWK as publicJwk; pass the public part only');
  const kid = jwkKid(publicJwk);
  return { kid, publicJwk: { ...publicOnly, kid }, sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA', kid }).sign(privateKey) };
}

export interface JwsVerifier {
  /** The verified payload and the signer's kid, or the reason it fails. */
  verify(jws: string): Promise<{ payload: Uint8Array; kid: string } | { error: string }>;
}

/** Verifies compact JWS (EdDSA only) against a fixed set of public keys matched by kid, importing each key once. */
export function createJwsVerifier(publicJwks: readonly JsonObject[]): JwsVerifier {
  const keys = new Map<string, { jwk: JsonObject; key?: Promise<CryptoKey | Uint8Array> }>();
  for (const jwk of publicJwks) keys.set(jwkKid(jwk), { jwk });
  return {
    async verify(jws) {
      let kid: unknown;
      try {
        kid = decodeProtectedHeader(jws).kid;
      } catch {
        return { error: 'signature is not a compact JWS' };
      }
      const slot = typeof kid === 'string' ? keys.get(kid) : undefined;
      if (!slot) return { error: `signed by unknown key ${JSON.stringify(kid)}; known keys: ${[...keys.keys()].join(', ') || 'none'}` };
      try {
        slot.key ??= importJWK(slot.jwk as JWK, 'EdDSA');
        return { payload: (await compactVerify(jws, await slot.key, { algorithms: ['EdDSA'] })).payload, kid: kid as string };
      } catch (error) {
        return { error: `signature does not verify with key ${String(kid)} (${(error as Error).message})` };
      }
    },
  };
}
