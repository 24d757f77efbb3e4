import { randomInt } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import { KernelError, type Db } from '../../kernel/index.ts';
import { hashToken } from '../invites.ts';
import { devicePairings } from '../schema.ts';

/**
 * Pairing codes: what an approver types into a Passport (or passes to the emulator) to bind it to their account.
 * Twelve characters of Crockford base32 (60 bits), shown as XXXX-XXXX-XXXX, valid for ten minutes and once; only the
 * hash is stored. The device proves nothing else at pairing, so the code is the whole secret: treat it like a password.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const PAIRING_MINUTES = 10;

export interface PairingCode {
  code: string;
  approverId: string;
  name: string | null;
  expiresAt: Date;
}

/** Upper-cases and drops separators, and maps the look-alikes Crockford base32 leaves out (O→0, I/L→1). */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

const hashCode = (code: string) => hashToken(`device-pairing:${normalizeCode(code)}`);

/** @example const { code } = await createPairingCode(db, { approverId: 'apr_1', name: 'Desk Passport' }); // "7K2M-Q9XD-3HTW" */
export async function createPairingCode(db: Db, options: { approverId: string; name?: string | null; ttlMinutes?: number }): Promise<PairingCode> {
  const ttl = options.ttlMinutes ?? PAIRING_MINUTES;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 60) throw new KernelError('bad_request', `a pairing code lives 1 to 60 minutes, not ${ttl}`);
  const name = options.name?.trim() || null;
  if (name !== null && (name.length > 64 || /[\p{Cc}\p{Cf}]/u.test(name))) {
    throw new KernelError('bad_request', 'a device name must be 1-64 printable characters, e.g. "Desk Passport"');
  }
  const raw = Array.from({ length: 12 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  const code = `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
  const expiresAt = new Date(Date.now() + ttl * 60_000);
  await db.insert(devicePairings).values({ codeHash: hashCode(code), approverId: options.approverId, name, expiresAt });
  return { code, approverId: options.approverId, name, expiresAt };
}

/** Uses a code up in one atomic update; null when it is unknown, used or expired. */
export async function claimPairingCode(db: Db, code: string): Promise<{ approverId: string; name: string | null } | null> {
  const [row] = await db
    .update(devicePairings)
    .set({ usedAt: new Date() })
    .where(and(eq(devicePairings.codeHash, hashCode(code)), isNull(devicePairings.usedAt), gt(devicePairings.expiresAt, new Date())))
    .returning({ approverId: devicePairings.approverId, name: devicePairings.name });
  return row ?? null;
}

/** Why a code did not claim, for an error that says what to do. */
export async function pairingCodeState(db: Db, code: string): Promise<'used' | 'expired' | 'unknown'> {
  const [row] = await db.select().from(devicePairings).where(eq(devicePairings.codeHash, hashCode(code)));
  if (!row) return 'unknown';
  return row.usedAt ? 'used' : 'expired';
}

/** Gives a claimed code back when the kernel refused the device (a bad key), so the approver can retry with it. */
export async function releasePairingCode(db: Db, code: string): Promise<void> {
  await db.update(devicePairings).set({ usedAt: null }).where(eq(devicePairings.codeHash, hashCode(code)));
}
