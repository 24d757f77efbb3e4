import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { passkeys } from '../store/schema.ts';
import { KernelError } from '../errors.ts';

/**
 * Stores a passkey's new signature counter with compare-and-swap: the row changes only if its counter is still
 * `oldCounter`. Returns false when another decision got there first or the passkey was removed; the caller must then
 * refuse the evidence, since two assertions with the same counter mean a replay or a cloned authenticator.
 */
export async function updatePasskeyCounter(db: Db, credentialId: string, oldCounter: number, newCounter: number): Promise<boolean> {
  for (const [name, value] of [['oldCounter', oldCounter], ['newCounter', newCounter]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new KernelError('bad_request', `${name} must be a non-negative integer, got ${String(value)}`);
    }
  }
  const rows = await db
    .update(passkeys)
    .set({ counter: newCounter, lastUsedAt: sql`now()` })
    .where(and(eq(passkeys.id, credentialId), eq(passkeys.counter, oldCounter), isNull(passkeys.removedAt)))
    .returning({ id: passkeys.id });
  return rows.length === 1;
}
