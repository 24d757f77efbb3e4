import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, type BudgetReader, type RuleConfig } from '../../kernel/index.ts';

const agent = { id: 'agt_1', name: 'a', owner: 'o@example.com' };
const names = ['github_get_repo', 'github_list_issues', 'github_merge_pull_request', 'stripe_create_refund', 'stripe_get_balance', 'aws_ecs_update'];
const globs = [...names, 'github_*', 'stripe_*', '*', 'github_get_*', '*_get_*', 'aws_?cs_update', 'stripe_create_*', 'nothing_*'];
const whens = [undefined, 'args.amount <= 5000', 'args.amount > 100', 'has(args.flag) && args.flag', 'tool.startsWith("github")', 'args.missing == 1'];

const rule = fc.record({
  tools: fc.uniqueArray(fc.constantFrom(...globs), { minLength: 1, maxLength: 3 }),
  when: fc.constantFrom(...whens),
  decision: fc.constantFrom('allow' as const, 'deny' as const, 'approve' as const),
  limited: fc.boolean(),
});

describe('policy properties', () => {
  it('the indexed evaluation decides exactly like the full, in-order trace', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rule, { maxLength: 12 }),
        fc.constantFrom(...names),
        fc.record({ amount: fc.integer({ min: 0, max: 10000 }), flag: fc.boolean() }, { requiredKeys: ['amount'] }),
        fc.integer({ min: 0, max: 30000 }),
        async (specs, tool, args, spentSoFar) => {
          const rules: RuleConfig[] = specs.map((s, i) => ({
            id: `r${i}`,
            tools: s.tools,
            decision: s.decision,
            ...(s.when ? { when: s.when } : {}),
            ...(s.limited ? { limit: { sum: 'args.amount', per: 'day', max: 20000 } } : {}),
          }));
          const policy = compilePolicy({ rules });
          const budgets: BudgetReader = { spent: async () => spentSoFar };
          const input = { tool, args, agent };
          const verdict = await policy.evaluate(input, budgets);
          const explained = await policy.explain(input, budgets);
          expect(verdict).toEqual(explained.verdict);
          const decidedBy = explained.trace.filter((step) => step.matched).map((step) => step.ruleId);
          expect(decidedBy).toEqual(verdict.ruleId ? [verdict.ruleId] : []);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('treats a "__proto__" argument as data', async () => {
    const policy = compilePolicy({ rules: [{ id: 'g', tools: ['*'], when: 'has(args.amount)', decision: 'deny' }] });
    const args = JSON.parse('{"__proto__": {"amount": 1}}');
    expect((await policy.evaluate({ tool: 'x_y', args, agent })).decision).toBe('approve');
  });
});
