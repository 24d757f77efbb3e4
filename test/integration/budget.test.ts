import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy, createBudgetStore, schema, type BudgetStore } from '../../kernel/index.ts';
import type { Database } from '../../gateway/db.ts';
import { dbKind, freshDatabase } from '../support/db.ts';

const hour = 3600_000;
const now = new Date('2025-06-01T12:00:00Z');
const ago = (hours: number) => new Date(now.getTime() - hours * hour);

describe(`budget store on ${dbKind}`, () => {
  let database: Database;
  let store: BudgetStore;
  // A spend as the submit transaction that allows a request records it (kernel/flow.ts).
  const spend = (requestId: string, s: { ruleId: string; key: string; amount: number }, at: Date) => database.db.insert(schema.spends).values({ requestId, ...s, at });

  beforeAll(async () => {
    database = await freshDatabase();
    store = createBudgetStore(database.db);
    await spend('req_a', { ruleId: 'refunds', key: 'global', amount: 5000 }, ago(2));
    await spend('req_b', { ruleId: 'refunds', key: 'global', amount: 7000 }, ago(30));
    await spend('req_c', { ruleId: 'other', key: 'global', amount: 100000 }, ago(1));
    await spend('req_d', { ruleId: 'refunds', key: 'team-a', amount: 900 }, ago(1));
  });
  afterAll(async () => database?.close());

  it('sums one rule and key since a time, as a number', async () => {
    expect(await store.spent('refunds', 'global', ago(24))).toBe(5000);
    expect(await store.spent('refunds', 'global', ago(48))).toBe(12000);
    expect(await store.spent('refunds', 'team-a', ago(24))).toBe(900);
    expect(await store.spent('nothing', 'global', ago(24))).toBe(0);
  });

  it('drives policy: within budget allows, over budget falls through to the next rule', async () => {
    const policy = compilePolicy({
      rules: [
        { id: 'daily', tools: ['stripe_create_refund'], decision: 'allow', limit: { sum: 'args.amount', per: 'day', max: 6000 } },
        { id: 'ask', tools: ['stripe_create_refund'], decision: 'approve' },
      ],
    });
    const agent = { id: 'agt_1', name: 'helper', owner: 'o@example.com' };
    const request = (amount: number) => ({ tool: 'stripe_create_refund', args: { amount }, agent, now });
    const first = await policy.evaluate(request(5000), store);
    expect(first).toMatchObject({ decision: 'allow', ruleId: 'daily', spend: { ruleId: 'daily', key: 'global', amount: 5000 } });
    await spend('req_g', first.spend!, ago(0.2));
    expect(await policy.evaluate(request(1000), store)).toMatchObject({ decision: 'allow', ruleId: 'daily' });
    expect(await policy.evaluate(request(1001), store)).toMatchObject({ decision: 'approve', ruleId: 'ask' });
  });
});
