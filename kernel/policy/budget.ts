import { and, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { spends } from '../store/schema.ts';
import type { BudgetReader } from './types.ts';

/**
 * The budget reader over the kernel's `spends` table. Spends are written by the submit transaction that allows a
 * request (kernel/flow.ts), under the budget lock it evaluated under, so a reader is all policy needs.
 */
export type BudgetStore = BudgetReader;

async function sumSince(db: Pick<Db, 'select'>, ruleId: string, key: string, since: Date): Promise<number> {
  const total = sql<string | number | null>`coalesce(sum(${spends.amount}), 0)`;
  const [row] = await db.select({ total }).from(spends).where(and(eq(spends.ruleId, ruleId), eq(spends.key, key), gte(spends.at, since)));
  // PostgreSQL returns sum(bigint) as numeric, which drivers hand over as a string.
  return Number(row?.total ?? 0);
}

/** The DB budget store the kernel passes to `policy.evaluate`. */
export function createBudgetStore(db: Db): BudgetStore {
  return { spent: (ruleId, key, since) => sumSince(db, ruleId, key, since) };
}
