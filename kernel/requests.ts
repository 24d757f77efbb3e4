import { and, desc, eq, inArray, type SQL } from 'drizzle-orm';
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from './store/db.ts';
import { approvers, decisions, requests } from './store/schema.ts';
import { KernelError } from './errors.ts';
import type { ApprovalRecord, RequestRecord, RequestState } from './types.ts';

/** Reading and moving requests in the store. Every state change is a compare-and-swap on the current state. */

type Row = typeof requests.$inferSelect;
/** What a request's record is built from (records): a stored row, or a claim's row with what its outcome set. */
export type Recorded = Pick<Row, 'id' | 'digest' | 'body' | 'intent' | 'state' | 'verdict' | 'result' | 'error' | 'createdAt' | 'updatedAt'>;

export function createRequestStore(db: Db) {
  /** Rows with their decisions. `tx` matters on PGlite: one connection, so a query outside an open transaction waits for it. */
  async function records(rows: Recorded[], tx: Db = db): Promise<RequestRecord[]> {
    // Only requests that policy sent for approval can carry decisions; the others skip the query.
    const ids = rows.filter((r) => r.verdict.decision === 'approve').map((r) => r.id);
    const decided = ids.length === 0 ? [] : await tx
      .select({ d: decisions, email: approvers.email })
      .from(decisions)
      .innerJoin(approvers, eq(decisions.approverId, approvers.id))
      .where(inArray(decisions.requestId, ids))
      .orderBy(decisions.createdAt);
    return rows.map((row) => ({
      id: row.id, digest: row.digest, body: row.body, intent: row.intent, state: row.state as RequestState, verdict: row.verdict,
      approvals: decided.filter((x) => x.d.requestId === row.id).map(({ d, email }): ApprovalRecord => ({
        approverId: d.approverId, approverEmail: email, decision: d.decision as ApprovalRecord['decision'], reason: d.reason,
        evidenceKind: d.evidenceKind as ApprovalRecord['evidenceKind'], keyId: d.keyId, at: d.createdAt.toISOString(),
      })),
      result: row.result ?? null, error: row.error ?? null, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
    }));
  }

  async function row(id: string, tx: Db = db): Promise<Row> {
    const [found] = await tx.select().from(requests).where(eq(requests.id, id));
    if (!found) throw new KernelError('unknown_request', `no request ${id}`);
    return found;
  }

  return {
    row,
    records,
    get: async (id: string, tx: Db = db): Promise<RequestRecord> => (await records([await row(id, tx)], tx))[0]!,

    async list(filter: { agentId: string | null; state?: RequestState; limit: number }): Promise<RequestRecord[]> {
      const where = and(filter.agentId ? eq(requests.agentId, filter.agentId) : undefined, filter.state ? eq(requests.state, filter.state) : undefined);
      return records(await db.select().from(requests).where(where).orderBy(desc(requests.createdAt)).limit(Math.min(Math.max(filter.limit, 1), 200)));
    },

    /**
     * Moves a request from one of `from` to `to` (and, with `guard`, only while that holds too: the caller's lease);
     * returns the row, or null when it was not in `from`.
     */
    async transition(tx: Db, id: string, from: readonly RequestState[], to: RequestState, patch: PgUpdateSetSource<typeof requests> = {}, guard?: SQL) {
      const where = and(eq(requests.id, id), inArray(requests.state, [...from]), guard);
      const [moved] = await tx.update(requests).set({ state: to, updatedAt: new Date(), ...patch }).where(where).returning();
      return moved ?? null;
    },
  };
}

export type RequestStore = ReturnType<typeof createRequestStore>;
