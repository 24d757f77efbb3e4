import { randomBytes } from 'node:crypto';
import { and, eq, gt, lt } from 'drizzle-orm';
import type { Db } from '../kernel/index.ts';
import { challenges } from './schema.ts';

/** Registration and sign-in ceremonies: what a stored challenge is for. */
export type ChallengePurpose = 'register' | 'signin';

const TTL_MS = 5 * 60_000;

/**
 * Stores a WebAuthn challenge for one ceremony and returns its id (sent back by the page with the response).
 * `subject` ties it to what it was issued for (the invite's token hash for registration).
 */
export async function storeChallenge(db: Db, purpose: ChallengePurpose, challenge: string, subject: string | null): Promise<string> {
  const id = randomBytes(16).toString('base64url');
  // Expired rows are useless; sweeping them here keeps the table small without a background job.
  await db.delete(challenges).where(lt(challenges.expiresAt, new Date()));
  await db.insert(challenges).values({ id, purpose, challenge, subject, expiresAt: new Date(Date.now() + TTL_MS) });
  return id;
}

/** Takes a challenge out in one atomic delete: single use, unexpired, same purpose and subject. Null otherwise. */
export async function takeChallenge(db: Db, id: string, purpose: ChallengePurpose, subject: string | null): Promise<string | null> {
  const [row] = await db
    .delete(challenges)
    .where(and(eq(challenges.id, id), eq(challenges.purpose, purpose), gt(challenges.expiresAt, new Date())))
    .returning({ challenge: challenges.challenge, subject: challenges.subject });
  if (!row || row.subject !== subject) return null;
  return row.challenge;
}
