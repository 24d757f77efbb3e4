import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { kernelKeyPath, loadOrCreateKernelKeys, loadOrCreateOAuthSigningKey, oauthSigningKeyPath } from '../../gateway/keys.ts';

const homes: string[] = [];
const freshHome = () => {
  const home = mkdtempSync(join(tmpdir(), 'cs-keys-'));
  homes.push(home);
  return home;
};
afterEach(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(process.platform === 'win32')('loadOrCreateKernelKeys', () => {
  it('creates the key on first start with a 0700 directory and a 0600 file, and loads the same key after', async () => {
    const home = freshHome();
    const created = await loadOrCreateKernelKeys(home);
    const path = kernelKeyPath(home);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'keys')).mode & 0o777).toBe(0o700);
    const loaded = await loadOrCreateKernelKeys(home);
    expect(loaded.kid).toBe(created.kid);
  });

  it('two concurrent first starts end up with one key', async () => {
    const home = freshHome();
    const [a, b] = await Promise.all([loadOrCreateKernelKeys(home), loadOrCreateKernelKeys(home)]);
    const again = await loadOrCreateKernelKeys(home);
    expect(new Set([a.kid, b.kid, again.kid]).size).toBe(1);
  });

  it('refuses a key file other users can read, saying how to fix it', async () => {
    const home = freshHome();
    await loadOrCreateKernelKeys(home);
    chmodSync(kernelKeyPath(home), 0o644);
    await expect(loadOrCreateKernelKeys(home)).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/chmod 600/) });
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const home = freshHome();
    await loadOrCreateKernelKeys(home);
    writeFileSync(kernelKeyPath(home), '{"kty":"OKP"', { mode: 0o600 });
    await expect(loadOrCreateKernelKeys(home)).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/not valid JSON/) });
  });
});

describe.skipIf(process.platform === 'win32')('loadOrCreateOAuthSigningKey', () => {
  it('creates one ES256 key beside the kernel key (0600), loads the same one after, and two racing first starts agree', async () => {
    const home = freshHome();
    const [a, b] = await Promise.all([loadOrCreateOAuthSigningKey(home), loadOrCreateOAuthSigningKey(home)]);
    expect(statSync(oauthSigningKeyPath(home)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateOAuthSigningKey(home);
    expect(new Set([a.kid, b.kid, again.kid]).size).toBe(1);
    expect(again).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', d: expect.any(String) });
    expect(again.kid).toBe(await calculateJwkThumbprint(again, 'sha256'));
  });

  it('refuses a file that is not a P-256 private key, and one other users can read', async () => {
    const home = freshHome();
    await loadOrCreateOAuthSigningKey(home);
    writeFileSync(oauthSigningKeyPath(home), '{"kty":"OKP","crv":"Ed25519","x":"a","d":"b","kid":"c"}', { mode: 0o600 });
    await expect(loadOrCreateOAuthSigningKey(home)).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/P-256 private JWK/) });
    chmodSync(oauthSigningKeyPath(home), 0o644);
    await expect(loadOrCreateOAuthSigningKey(home)).rejects.toMatchObject({ code: 'config_error', message: expect.stringMatching(/OAuth signing key .* readable by other users/) });
  });
});
