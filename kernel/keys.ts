import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { KernelError } from './errors.ts';

/** The kernel's Ed25519 signing key: it signs grants and audit checkpoints. `kid` is the RFC 7638 JWK thumbprint. */
export interface KernelKeys {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half as a JWK (with kid, alg, use), for executors and offline verifiers. */
  publicJwk: JWK;
}

/** A fresh Ed25519 key pair; extractable so it can be written to the data directory once. */
export async function generateKernelKeys(): Promise<KernelKeys> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return fromPrivateJwk(await exportJWK(privateKey));
}

/** The private key as JWK JSON (secret: whoever holds it can mint grants). */
export async function exportKernelKeys(keys: KernelKeys): Promise<string> {
  const jwk = await exportJWK(keys.privateKey);
  return JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d, kid: keys.kid, alg: 'EdDSA', use: 'sig' }, null, 2) + '\n';
}

/** Keys from the JWK JSON exportKernelKeys wrote; config_error saying what is wrong with it otherwise. */
export async function importKernelKeys(json: string): Promise<KernelKeys> {
  let jwk: unknown;
  try {
    jwk = JSON.parse(json);
  } catch (error) {
    throw new KernelError('config_error', `the kernel key is not valid JSON (${(error as Error).message}); restore it from backup or remove it to create a new key`);
  }
  if (!isRecord(jwk) || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || typeof jwk.d !== 'string') {
    throw new KernelError('config_error', 'the kernel key must be an Ed25519 private JWK (kty "OKP", crv "Ed25519", x and d); restore it from backup or remove it to create a new key');
  }
  const keys = await fromPrivateJwk({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d });
  if (jwk.kid !== undefined && jwk.kid !== keys.kid) {
    throw new KernelError('config_error', `the kernel key's kid ${String(jwk.kid)} is not the thumbprint of its public key (${keys.kid}); the file was edited or corrupted`);
  }
  return keys;
}

/** The kernel's public key from its public JWK, for executors that verify grants in another process. */
export async function importKernelPublicKey(jwk: JWK): Promise<CryptoKey> {
  if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new KernelError('config_error', 'the kernel public key must be an Ed25519 JWK (kty "OKP", crv "Ed25519", x)');
  }
  const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'EdDSA');
  if (key instanceof Uint8Array) throw new KernelError('config_error', 'the kernel public key imported as a symmetric key');
  return key;
}

async function fromPrivateJwk(jwk: JWK): Promise<KernelKeys> {
  const publicOnly: JWK = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  let privateKey: CryptoKey | Uint8Array;
  let publicKey: CryptoKey | Uint8Array;
  try {
    privateKey = await importJWK({ ...publicOnly, d: jwk.d }, 'EdDSA', { extractable: true });
    publicKey = await importJWK(publicOnly, 'EdDSA', { extractable: true });
  } catch (error) {
    throw new KernelError('config_error', `the kernel key cannot be imported: ${(error as Error).message}`);
  }
  if (privateKey instanceof Uint8Array || publicKey instanceof Uint8Array) {
    throw new KernelError('config_error', 'the kernel key imported as a symmetric key; it must be Ed25519');
  }
  const kid = await calculateJwkThumbprint(publicOnly, 'sha256');
  return { kid, privateKey, publicKey, publicJwk: { ...publicOnly, kid, alg: 'EdDSA', use: 'sig' } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
