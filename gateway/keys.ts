import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelError, exportKernelKeys, generateKernelKeys, importKernelKeys, type KernelKeys } from '../kernel/index.ts';

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
