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
  return importKernelKeys(await loadOrCreateSecretFile(home, 'kernel.jwk.json', 'kernel key', async () => exportKernelKeys(await generateKernelKeys())));
}

/** Where the built-in authorization server's signing key lives inside COUNTERSIGN_HOME. */
export function oauthSigningKeyPath(home: string): string {
  return join(home, 'keys', 'oauth-signing.jwk.json');
}

/**
 * The built-in authorization server's ES256 key, which signs ID tokens and is published at /oauth/jwks: read from
 * `<home>/keys/oauth-signing.jwk.json`, or created on first start like the kernel key. Every replica must hold the same
 * one (README: copy COUNTERSIGN_HOME/keys/), or an ID token one issues would not verify against another's JWKS.
 */
export async function loadOrCreateOAuthSigningKey(home: string): Promise<JWK> {
  const text = await loadOrCreateSecretFile(home, 'oauth-signing.jwk.json', 'OAuth signing key', async () => JSON.stringify(await generateOAuthSigningKey(), null, 2) + '\n');
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch (error) {
    throw new KernelError('config_error', `the OAuth signing key is not valid JSON (${(error as Error).message}); restore it from backup or remove it to create a new key (connected apps keep working; ID tokens already issued stop verifying)`);
  }
  if (!isRecord(jwk) || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') {
    throw new KernelError('config_error', 'the OAuth signing key must be a P-256 private JWK (kty "EC", crv "P-256", x, y, d and kid); restore it from backup or remove it to create a new key');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d, kid: jwk.kid, alg: 'ES256', use: 'sig' };
}

/** A fresh ES256 private JWK with its thumbprint as kid (tests that build an edge by hand use one too). */
export async function generateOAuthSigningKey(): Promise<JWK> {
  const jwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk, 'sha256'), alg: 'ES256', use: 'sig' };
}

/**
 * The text of `<home>/keys/<name>`, created by `create` on first start: directory 0700, file 0600, published whole
 * with link(), which fails if another process created the file meanwhile; then that file wins and is read. Nobody ever
 * sees a half-written key. Refuses a file other users can read, as ssh does.
 */
async function loadOrCreateSecretFile(home: string, name: string, what: string, create: () => Promise<string>): Promise<string> {
  const dir = join(home, 'keys');
  const path = join(dir, name);
  const existing = readIfExists(path, what);
  if (existing !== null) return existing;
  const text = await create();
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    linkSync(temp, path);
    return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readIfExists(path, what) ?? '';
    throw new KernelError(
      'config_error',
      `cannot create the ${what} at ${path}: ${(error as Error).message}. Check that COUNTERSIGN_HOME (${home}) is writable.`,
      undefined,
      { cause: error },
    );
  } finally {
    rmSync(temp, { force: true });
  }
}

function readIfExists(path: string, what: string): string | null {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KernelError('config_error', `cannot read the ${what} at ${path}: ${(error as Error).message}`, undefined, { cause: error });
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KernelError(
      'config_error',
      `the ${what} ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${path}\` and start again`,
    );
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new KernelError('config_error', `cannot read the ${what} at ${path}: ${(error as Error).message}`, undefined, { cause: error });
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
