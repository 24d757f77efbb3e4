import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import { KernelError, sha256Hex, type Db } from '../kernel/index.ts';
import { invites } from './schema.ts';

/** An enrollment invite as handed to the person who enrolls: the token exists only in this link, never in the database. */
export interface Invite {
  url: string;
  token: string;
  expiresAt: Date;
}

export type InviteStatus =
  | { state: 'valid'; email: string; role: string | null; expiresAt: Date }
  | { state: 'used' | 'expired'; email: string }
  | { state: 'unknown' };

const EMAIL = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;
const ROLE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export const hashToken = (token: string) => sha256Hex('countersign/web-token/v1\0', token);

/** Lower-cases and checks an email; throws a `bad_request` that says what is wrong. */
export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized)) {
    throw new KernelError('bad_request', `"${email}" is not an email address; give the approver's address, e.g. jane@example.com`);
  }
  return normalized;
}

/**
 * Creates a single-use enrollment invite. The token is 32 random bytes (base64url); only its hash is stored.
 * @example const { url } = await createInvite(db, { email: 'jane@example.com', role: 'finance', publicUrl: 'https://cs.example.com' });
 */
export async function createInvite(
  db: Db,
  options: { email: string; role?: string | null; ttlMinutes?: number; publicUrl: string },
): Promise<Invite> {
  const email = normalizeEmail(options.email);
  const role = options.role ?? null;
  if (role !== null && !ROLE.test(role)) {
    throw new KernelError('bad_request', `role "${role}" is not valid; use lower-case letters, digits, "-", "_" or "." (up to 64)`);
  }
  const ttlMinutes = options.ttlMinutes ?? 60;
  if (!Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > 60 * 24 * 7) {
    throw new KernelError('bad_request', `ttlMinutes must be a whole number of minutes from 1 to 10080 (a week), not ${ttlMinutes}`);
  }
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMinutes * 60_000);
  await db.insert(invites).values({ tokenHash: hashToken(token), email, role, expiresAt });
  return { url: new URL(`/enroll/${token}`, options.publicUrl).toString(), token, expiresAt };
}

/** What an invite link currently means, for the enrollment page. Does not use it up. */
export async function inviteStatus(db: Db, token: string): Promise<InviteStatus> {
  const [row] = await db.select().from(invites).where(eq(invites.tokenHash, hashToken(token)));
  if (!row) return { state: 'unknown' };
  if (row.usedAt) return { state: 'used', email: row.email };
  if (row.expiresAt.getTime() <= Date.now()) return { state: 'expired', email: row.email };
  return { state: 'valid', email: row.email, role: row.role, expiresAt: row.expiresAt };
}

/** Uses the invite up in one atomic update, so two racing enrollments cannot both win. Null if it was not valid. */
export async function claimInvite(db: Db, token: string): Promise<{ email: string; role: string | null } | null> {
  const [row] = await db
    .update(invites)
    .set({ usedAt: new Date() })
    .where(and(eq(invites.tokenHash, hashToken(token)), isNull(invites.usedAt), gt(invites.expiresAt, new Date())))
    .returning({ email: invites.email, role: invites.role });
  return row ?? null;
}

/** Gives a claimed invite back when enrollment failed after the claim (the kernel refused), so the link still works. */
export async function releaseInvite(db: Db, token: string): Promise<void> {
  await db.update(invites).set({ usedAt: null }).where(eq(invites.tokenHash, hashToken(token)));
}
