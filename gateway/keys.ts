import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { KernelError, type KernelKeys } from '../kernel/index.ts';

/** Where the kernel's private key lives inside COUNTERSIGN_HOME. */
export function kernelKeyPath(home: string): string {
  return join(home, 'keys', 'kernel.jwk.json');
}

/**
 * Reads the kernel key from `<home>/keys/kernel.jwk.json`, or creates it on first start (directory 0700, file 0600).
 * Refuses a key file that other users can read, as ssh does, since whoever reads it can mint grants.
 */
export async function loadOrCreateKernelKeys(home: string): Promise<KernelKeys> {
  const path = kernelKeyPath(home);
  const existing = readIfExists(path);
  if (existing !== null) return importKernelKeys(existing);
  const keys = await generateKernelKeys();
  const dir = join(home, 'keys');
  const temp = join(dir, `.kernel.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeFileSync(temp, await exportKernelKeys(keys), { mode: 0o600, flag: 'wx' });
    // link() publishes the complete file atomically and fails if another process created the key meanwhile;
    // then that key wins and we read it. Nobody ever sees a half-written key.
    linkSync(temp, path);
    return keys;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return importKernelKeys(readIfExists(path) ?? '');
    throw new KernelError(
      'config_error',
      `cannot create the kernel key at ${path}: ${(error as Error).message}. Check that COUNTERSIGN_HOME (${home}) is writable.`,
      undefined,
      { cause: error },
    );
  } finally {
    rmSync(temp, { force: true });
  }
}

function readIfExists(path: string): string | null {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KernelError('config_error', `cannot read the kernel key at ${path}: ${(error as Error).message}`, undefined, { cause: error });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KernelError(
      'config_error',
      `the kernel key ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${path}\` and start again`,
    );
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new KernelError('config_error', `cannot read the kernel key at ${path}: ${(error as Error).message}`, undefined, { cause: error });
  }
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
