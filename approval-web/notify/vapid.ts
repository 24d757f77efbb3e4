import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { KernelError } from '../../kernel/index.ts';

/** The VAPID key pair that signs Web Push messages; browsers bind a subscription to its public key. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/**
 * Reads COUNTERSIGN_HOME/keys/vapid.json, creating it (mode 0600) on first start. Keeping the same pair matters:
 * a new one would silently orphan every existing subscription.
 */
export function loadOrCreateVapidKeys(home: string): VapidKeys {
  const dir = join(home, 'keys');
  const path = join(dir, 'vapid.json');
  if (existsSync(path)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new KernelError('config_error', `${path} is not valid JSON. Restore it from a backup, or delete it to create new keys (devices must then enable notifications again).`);
    }
    const keys = parsed as Partial<VapidKeys>;
    if (typeof keys.publicKey !== 'string' || typeof keys.privateKey !== 'string') {
      throw new KernelError('config_error', `${path} lacks publicKey/privateKey. Delete it to create new keys (devices must then enable notifications again).`);
    }
    return { publicKey: keys.publicKey, privateKey: keys.privateKey };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Loaded only here, on first start: web-push is CommonJS, and the notifier imports it when it first sends.
  const webpush = createRequire(import.meta.url)('web-push') as typeof import('web-push');
  const keys = webpush.generateVAPIDKeys();
  writeFileSync(path, JSON.stringify({ publicKey: keys.publicKey, privateKey: keys.privateKey }, null, 2), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { publicKey: keys.publicKey, privateKey: keys.privateKey };
}
