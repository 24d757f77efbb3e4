import { and, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { spends } from '../store/schema.ts';
import type { BudgetReader } from './types.ts';

/** A budget reader over the kernel's `spends` table, plus the write that records a spend. */
export interface BudgetStore extends BudgetReader {
  /**
   * Records what an allowed request spends. With `within`, the spend is recorded only if the budget still has room,
   * checked under a per-budget lock, so two concurrent requests cannot both take the last of it; returns false then.
   * Recording the same request twice is a no-op that returns true.
   */
  record(
    requestId: string,
    spend: { ruleId: string; key: string; amount: number },
    options?: { within?: { max: number; since: Date }; at?: Date },
  ): Promise<boolean>;
}

type Executor = Pick<Db, 'select' | 'insert' | 'execute'>;

async function sumSince(db: Executor, ruleId: string, key: string, since: Date): Promise<number> {
  const [row] = await db
    .select({ total: sql<string | number | null>`coalesce(sum(${spends.amount}), 0)` })
    .from(spends)
    .where(and(eq(spends.ruleId, ruleId), eq(spends.key, key), gte(spends.at, since)));
  // PostgreSQL returns sum(bigint) as numeric, which drivers hand over as a string.
  return Number(row?.total ?? 0);
}

/** The DB budget store the kernel passes to `policy.evaluate`. */
export function createBudgetStore(db: Db): BudgetStore {
  return {
    spent: (ruleId, key, since) => sumSince(db, ruleId, key, since),
    async record(requestId, spend, options = {}) {
      return db.transaction(async (tx) => {
        const within = options.within;
        if (within) {
          await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`countersign/budget/${spend.ruleId}/${spend.key}`}))`);
          const [existing] = await tx.select({ id: spends.requestId }).from(spends).where(eq(spends.requestId, requestId));
          if (existing) return true;
          const spent = await sumSince(tx, spend.ruleId, spend.key, within.since);
          if (spent + spend.amount > within.max) return false;
        }
        await tx
          .insert(spends)
          .values({ requestId, ruleId: spend.ruleId, key: spend.key, amount: spend.amount, ...(options.at ? { at: options.at } : {}) })
          .onConflictDoNothing();
        return true;
      });
    },
  };
}
