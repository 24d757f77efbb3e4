import { and, desc, eq, notInArray } from 'drizzle-orm';
import type { Db } from '../kernel/index.ts';
import { inboxHistory } from './schema.ts';

/**
 * The inbox's history: requests an approver has seen in their inbox or decided, newest first, so that decided and
 * expired ones can move to a "History" section. `request.list` is not the web app's to send, and the kernel's inbox
 * holds only pending requests, so the web app records the ids it has shown: in its own table, so history survives a
 * restart and every replica sees the same. The audit dashboard keeps the full record.
 */

const KEEP = 30;

export interface History {
  /** Records request ids shown to or decided by an approver. */
  saw(approverId: string, requestIds: readonly string[]): Promise<void>;
  /** The recorded ids, most recently seen first (at most 30). */
  recent(approverId: string): Promise<string[]>;
}

export function createHistory(db: Db): History {
  // What this process already wrote, so the inbox's once-a-second refresh does not write the same rows again.
  const written = new Map<string, Set<string>>();
  return {
    async saw(approverId, requestIds) {
      const known = written.get(approverId) ?? new Set<string>();
      const fresh = [...new Set(requestIds)].filter((id) => !known.has(id));
      if (fresh.length === 0) return;
      await db.insert(inboxHistory).values(fresh.map((requestId) => ({ approverId, requestId }))).onConflictDoNothing();
      const keep = db.select({ id: inboxHistory.requestId }).from(inboxHistory).where(eq(inboxHistory.approverId, approverId)).orderBy(desc(inboxHistory.seenAt)).limit(KEEP);
      await db.delete(inboxHistory).where(and(eq(inboxHistory.approverId, approverId), notInArray(inboxHistory.requestId, keep)));
      for (const id of fresh) known.add(id);
      if (known.size > 4 * KEEP) known.clear(); // bounded; forgetting only costs a write that does nothing
      written.set(approverId, known);
    },
    async recent(approverId) {
      const rows = await db.select({ id: inboxHistory.requestId }).from(inboxHistory).where(eq(inboxHistory.approverId, approverId)).orderBy(desc(inboxHistory.seenAt)).limit(KEEP);
      return rows.map((row) => row.id);
    },
  };
}
