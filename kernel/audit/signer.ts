import { createHash, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from 'jose';
import type { JsonObject } from '../types.ts';
import { jcs } from '../digest.ts';
import { KernelError } from '../errors.ts';

/** Signs audit checkpoints. The kernel's key never leaves it; verifiers get `publicJwk`. */
export interface CheckpointSigner {
  kid: string;
  /** Returns a compact JWS over `payload`. */
  sign(payload: Uint8Array): Promise<string>;
  publicJwk: JsonObject;
}

// RFC 7638: the thumbprint covers only the required members of each key type.
const REQUIRED: Record<string, string[]> = { OKP: ['crv', 'kty', 'x'], EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'] };

/** A public key's id: its `kid` when set, else its RFC 7638 SHA-256 thumbprint. */
export function jwkKid(jwk: JsonObject): string {
  if (typeof jwk.kid === 'string' && jwk.kid.length > 0) return jwk.kid;
  const members = typeof jwk.kty === 'string' ? REQUIRED[jwk.kty] : undefined;
  if (!members) throw new KernelError('bad_request', `public JWK has unsupported kty ${JSON.stringify(jwk.kty)}; use an OKP (Ed25519) or EC key`);
  const picked: JsonObject = {};
  for (const name of members) {
    if (typeof jwk[name] !== 'string') throw new KernelError('bad_request', `public JWK of kty ${String(jwk.kty)} lacks member "${name}"`);
    picked[name] = jwk[name];
  }
  return createHash('sha256').update(jcs(picked)).digest('base64url');
}

function jwkAlg(jwk: JsonObject): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  throw new KernelError('bad_request', 'cannot tell the signing algorithm of the public JWK; set its "alg" (EdDSA for Ed25519)');
}

/**
 * A CheckpointSigner over a private key, signing compact JWS with jose (EdDSA for Ed25519 keys).
 * @example
 * const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
 * const signer = createJwsSigner(privateKey, await exportJWK(publicKey) as JsonObject);
 */
export function createJwsSigner(privateKey: CryptoKey | KeyObject, publicJwk: JsonObject): CheckpointSigner {
  const kid = jwkKid(publicJwk);
  const alg = jwkAlg(publicJwk);
  const { d: _private, ...publicOnly } = publicJwk;
  if (_private !== undefined) throw new KernelError('bad_request', 'createJwsSigner got a private JWK as publicJwk; pass the public part only');
  return {
    kid,
    publicJwk: { ...publicOnly, kid },
    sign: (payload) => new CompactSign(payload).setProtectedHeader({ alg, kid }).sign(privateKey),
  };
}

/** Verifies compact JWS against a fixed set of public keys, importing each key once. */
export interface JwsVerifier {
  /** The verified payload and the signer's kid, or the reason it fails. */
  verify(jws: string): Promise<{ payload: Uint8Array; kid: string } | { error: string }>;
}

/** Builds a JwsVerifier over public JWKs (matched by kid or thumbprint). */
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
        const alg = jwkAlg(slot.jwk);
        slot.key ??= importJWK(slot.jwk as JWK, alg);
        const { payload } = await compactVerify(jws, await slot.key, { algorithms: [alg] });
        return { payload, kid: kid as string };
      } catch (error) {
        return { error: `signature does not verify with key ${String(kid)} (${(error as Error).message})` };
      }
    },
  };
}
