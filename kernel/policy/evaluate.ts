import type { Verdict } from '../types.ts';
import { celContext, celMessage, type CelContext } from './cel.ts';
import { describeWindow } from './duration.ts';
import type { ToolIndex } from './glob.ts';
import type { CompiledRule } from './rules.ts';
import type { BudgetReader, PolicyInput, TraceStep } from './types.ts';

/**
 * Evaluation. First matching rule in file order wins. A rule matches when its tools match, its `when` is true, and,
 * with a limit, the spent amount in the window plus this request's sum stays within max (over budget, the rule does
 * not match and evaluation goes on).
 *
 * Fail closed: when a `when` or `limit.sum` expression errors at evaluation time (a missing key, a wrong type), or a
 * budget cannot be read, the verdict is `deny` naming the rule and the error. Treating the rule as not matching would
 * silently skip deny rules, so it is never done. Guard optional arguments with `has(args.x) && ...`.
 */

export const BUDGET_KEY = 'global';

type Outcome =
  | { kind: 'decide' | 'error'; verdict: Verdict }
  | { kind: 'when-false' } | { kind: 'over'; spent: number; amount: number };
const WHEN_FALSE: Outcome = { kind: 'when-false' };

class Lazy {
  private context: CelContext | undefined;
  constructor(
    readonly input: PolicyInput,
    readonly now: Date,
  ) {}
  get(): CelContext {
    this.context ??= celContext(this.input, this.now);
    return this.context;
  }
}

function failClosed(rule: CompiledRule, part: string, problem: string): Outcome {
  const reason =
    `policy rule "${rule.id}" could not be evaluated: ${part} failed (${problem}); ` +
    'denied because policy errors fail closed. Fix the rule, e.g. guard optional fields with has(args.name).';
  return { kind: 'error', verdict: { decision: 'deny', ruleId: rule.id, reason } };
}

function asAmount(value: unknown): number | null {
  if (typeof value === 'bigint') return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  return null;
}

/** The synchronous part of a rule: its `when`, and its `limit.sum`. Only a budget look-up needs to wait. */
function consider(rule: CompiledRule, lazy: Lazy): Outcome | { kind: 'budget'; amount: number } {
  if (rule.when) {
    let result: unknown;
    try {
      result = rule.when.run(lazy.get());
    } catch (error) {
      return failClosed(rule, `when \`${rule.when.source}\``, celMessage(error));
    }
    if (result === false) return WHEN_FALSE;
    if (result !== true) return failClosed(rule, `when \`${rule.when.source}\``, `it gave ${typeof result}, not true or false`);
  }
  const limit = rule.limit;
  if (!limit) return { kind: 'decide', verdict: { ...rule.verdict } };
  let amount: number | null;
  try {
    amount = asAmount(limit.sum(lazy.get()));
  } catch (error) {
    return failClosed(rule, `limit.sum \`${limit.source}\``, celMessage(error));
  }
  if (amount === null) return failClosed(rule, `limit.sum \`${limit.source}\``, 'it did not give a whole number of at least 0');
  return { kind: 'budget', amount };
}

async function withinBudget(rule: CompiledRule, lazy: Lazy, amount: number, budgets: BudgetReader | undefined): Promise<Outcome> {
  const limit = rule.limit!;
  if (!budgets) return failClosed(rule, 'the budget look-up', 'no budget store was given to the policy');
  let spent: number;
  try {
    spent = await budgets.spent(rule.id, BUDGET_KEY, new Date(lazy.now.getTime() - limit.windowSeconds * 1000));
  } catch (error) {
    return failClosed(rule, 'the budget look-up', error instanceof Error ? error.message : String(error));
  }
  if (typeof spent !== 'number' || !Number.isFinite(spent)) return failClosed(rule, 'the budget look-up', `it returned ${String(spent)}, not a number`);
  if (spent + amount > limit.max) return { kind: 'over', spent, amount };
  return { kind: 'decide', verdict: { ...rule.verdict, spend: { ruleId: rule.id, key: BUDGET_KEY, amount } } };
}

async function outcomeOf(rule: CompiledRule, lazy: Lazy, budgets: BudgetReader | undefined): Promise<Outcome> {
  const first = consider(rule, lazy);
  return first.kind === 'budget' ? withinBudget(rule, lazy, first.amount, budgets) : first;
}

function why(rule: CompiledRule, outcome: Outcome): string {
  if (outcome.kind === 'when-false') return `when \`${rule.when?.source}\` was false`;
  if (outcome.kind === 'over') {
    const limit = rule.limit!;
    return `over budget: ${outcome.spent} spent + ${outcome.amount} > ${limit.max} in ${describeWindow(limit.per)}`;
  }
  const verdict = outcome.verdict;
  if (outcome.kind === 'error') return verdict.reason;
  const parts = [`tool matches ${rule.tools.join(', ')}`];
  if (rule.when) parts.push(`when \`${rule.when.source}\` was true`);
  if (verdict.spend && rule.limit) parts.push(`within budget: ${verdict.spend.amount} of ${rule.limit.max} per ${rule.limit.per}`);
  return `${parts.join('; ')}: ${verdict.decision}`;
}

/** The hot path: only rules whose tools can match are looked at, and the CEL context is built at most once. */
export async function decide(
  rules: readonly CompiledRule[],
  index: ToolIndex,
  fallback: Verdict,
  input: PolicyInput,
  budgets: BudgetReader | undefined,
): Promise<Verdict> {
  const lazy = new Lazy(input, input.now ?? new Date());
  for (const i of index.candidates(input.tool)) {
    const rule = rules[i]!;
    // Awaiting only for budgets keeps the common path free of a promise per rule.
    const first = consider(rule, lazy);
    const outcome = first.kind === 'budget' ? await withinBudget(rule, lazy, first.amount, budgets) : first;
    if (outcome.kind === 'decide' || outcome.kind === 'error') return outcome.verdict;
  }
  return { ...fallback };
}

/** Same decision as `decide`, walking every rule in order and saying why each one did or did not decide. */
export async function trace(
  rules: readonly CompiledRule[],
  fallback: Verdict,
  input: PolicyInput,
  budgets: BudgetReader | undefined,
): Promise<{ verdict: Verdict; trace: TraceStep[] }> {
  const lazy = new Lazy(input, input.now ?? new Date());
  const steps: TraceStep[] = [];
  for (const rule of rules) {
    if (!rule.patterns.some((re) => re.test(input.tool))) {
      steps.push({ ruleId: rule.id, matched: false, why: `tool ${input.tool} does not match ${rule.tools.join(', ')}` });
      continue;
    }
    const outcome = await outcomeOf(rule, lazy, budgets);
    const decided = outcome.kind === 'decide' || outcome.kind === 'error';
    steps.push({ ruleId: rule.id, matched: decided, why: why(rule, outcome) });
    if (decided) return { verdict: outcome.verdict, trace: steps };
  }
  return { verdict: { ...fallback }, trace: steps };
}
