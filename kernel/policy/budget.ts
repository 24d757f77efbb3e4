import { and, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { spends } from '../store/schema.ts';
import type { BudgetReader } from './types.ts';

type Spend = { ruleId: string; key: string; amount: number };

/** A budget reader over the kernel's `spends` table, plus the write that records a spend. */
export interface BudgetStore extends BudgetReader {
  /**
   * Records what an allowed request spends. With `within`, the spend is recorded only if the budget still has room,
   * checked under a per-budget lock, so two concurrent requests cannot both take the last of it; returns false then.
   * Recording the same request twice is a no-op that returns true.
   */
  record(requestId: string, spend: Spend, options?: { within?: { max: number; since: Date }; at?: Date }): Promise<boolean>;
}

async function sumSince(db: Pick<Db, 'select'>, ruleId: string, key: string, since: Date): Promise<number> {
  const total = sql<string | number | null>`coalesce(sum(${spends.amount}), 0)`;
  const [row] = await db.select({ total }).from(spends).where(and(eq(spends.ruleId, ruleId), eq(spends.key, key), gte(spends.at, since)));
  // PostgreSQL returns sum(bigint) as numeric, which drivers hand over as a string.
  return Number(row?.total ?? 0);
}

/** The DB budget store the kernel passes to `policy.evaluate`. */
export function createBudgetStore(db: Db): BudgetStore {
  return {
    spent: (ruleId, key, since) => sumSince(db, ruleId, key, since),
    record: async (requestId, spend, { within, at } = {}) => db.transaction(async (tx) => {
      if (within) {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`countersign/budget/${spend.ruleId}/${spend.key}`}))`);
        const [existing] = await tx.select({ id: spends.requestId }).from(spends).where(eq(spends.requestId, requestId));
        if (existing) return true;
        const spent = await sumSince(tx, spend.ruleId, spend.key, within.since);
        if (spent + spend.amount > within.max) return false;
      }
      const row = { requestId, ruleId: spend.ruleId, key: spend.key, amount: spend.amount, ...(at ? { at } : {}) };
      await tx.insert(spends).values(row).onConflictDoNothing();
      return true;
    }),
  };
}
