import type { Verdict } from '../types.ts';
import { celContext, celMessage, type CelContext } from './cel.ts';
import type { CompiledRule } from './compile.ts';
import type { BudgetReader, PolicyInput, TraceStep } from './types.ts';

/**
 * Evaluation: the first matching rule in file order wins. A rule matches when its tools match, its `when` is true and,
 * with a limit, spent-in-window + this request's sum <= max (over budget, evaluation goes on to the next rule).
 * Fail closed: an expression that errors at run time (a missing key, a wrong type) or an unreadable budget gives `deny`,
 * naming the rule and the error; skipping the rule instead would silently skip deny rules. Guard with `has(args.x)`.
 */

export const BUDGET_KEY = 'global';
const CACHE_LIMIT = 10_000; // tool names are validated before policy, so the cap only guards against misuse

type Outcome = { kind: 'decide' | 'error'; verdict: Verdict } | { kind: 'when-false' } | { kind: 'over'; spent: number; amount: number };
const WHEN_FALSE: Outcome = { kind: 'when-false' };
/** One request as rules see it. Its CEL context is built on first use, at most once (no closure per request: it is hot). */
type Request = { input: PolicyInput; now: Date; context: CelContext | undefined };
const contextOf = (req: Request): CelContext => (req.context ??= celContext(req.input, req.now));
const matches = (rule: CompiledRule, tool: string): boolean => rule.patterns.some((re) => re.test(tool));

/** The rules whose tools match a tool name, in file order; computed once per name, so a request skips the others. */
export function toolIndex(rules: readonly CompiledRule[]): (tool: string) => readonly CompiledRule[] {
  const cache = new Map<string, readonly CompiledRule[]>();
  return (tool) => {
    let found = cache.get(tool);
    if (found) return found;
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(tool, (found = rules.filter((rule) => matches(rule, tool))));
    return found;
  };
}

function failClosed(rule: CompiledRule, part: string, problem: string): Outcome {
  const reason = `policy rule "${rule.id}" could not be evaluated: ${part} failed (${problem}); denied because policy errors fail closed.`;
  return { kind: 'error', verdict: { decision: 'deny', ruleId: rule.id, reason: `${reason} Fix the rule, e.g. guard optional fields with has(args.name).` } };
}

function asAmount(value: unknown): number | null {
  if (typeof value === 'bigint') return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** One rule's outcome. Synchronous unless the rule has a budget to look up: no promise per rule on the common path. */
function outcomeOf(rule: CompiledRule, req: Request, budgets: BudgetReader | undefined): Outcome | Promise<Outcome> {
  const { when, limit } = rule;
  if (when) {
    let result: unknown;
    try {
      result = when.run(contextOf(req));
    } catch (error) {
      return failClosed(rule, `when \`${when.source}\``, celMessage(error));
    }
    if (result === false) return WHEN_FALSE;
    if (result !== true) return failClosed(rule, `when \`${when.source}\``, `it gave ${typeof result}, not true or false`);
  }
  if (!limit) return { kind: 'decide', verdict: { ...rule.verdict } };
  let amount: number | null;
  try {
    amount = asAmount(limit.sum(contextOf(req)));
  } catch (error) {
    return failClosed(rule, `limit.sum \`${limit.source}\``, celMessage(error));
  }
  if (amount === null) return failClosed(rule, `limit.sum \`${limit.source}\``, 'it did not give a whole number of at least 0');
  return withinBudget(rule, req.now, amount, budgets);
}

async function withinBudget(rule: CompiledRule, now: Date, amount: number, budgets?: BudgetReader): Promise<Outcome> {
  const limit = rule.limit!;
  if (!budgets) return failClosed(rule, 'the budget look-up', 'no budget store was given to the policy');
  let spent: number;
  try {
    spent = await budgets.spent(rule.id, BUDGET_KEY, new Date(now.getTime() - limit.windowSeconds * 1000));
  } catch (error) {
    return failClosed(rule, 'the budget look-up', error instanceof Error ? error.message : String(error));
  }
  if (typeof spent !== 'number' || !Number.isFinite(spent)) return failClosed(rule, 'the budget look-up', `it returned ${String(spent)}, not a number`);
  if (spent + amount > limit.max) return { kind: 'over', spent, amount };
  return { kind: 'decide', verdict: { ...rule.verdict, spend: { ruleId: rule.id, key: BUDGET_KEY, amount } } };
}

function why(rule: CompiledRule, outcome: Outcome): string {
  const { when, limit } = rule;
  if (outcome.kind === 'when-false') return `when \`${when?.source}\` was false`;
  if (outcome.kind === 'over') return `over budget: ${outcome.spent} spent + ${outcome.amount} > ${limit!.max} in ${limit!.window}`;
  if (outcome.kind === 'error') return outcome.verdict.reason;
  const { spend, decision } = outcome.verdict;
  const budget = spend && limit && `within budget: ${spend.amount} of ${limit.max} per ${limit.per}`;
  return `${[`tool matches ${rule.tools.join(', ')}`, when && `when \`${when.source}\` was true`, budget].filter(Boolean).join('; ')}: ${decision}`;
}

/** The first of `rules` that decides, else the fallback; with `steps` (explain), also why each rule did or did not decide. */
export async function walk(rules: readonly CompiledRule[], fallback: Verdict, input: PolicyInput, budgets?: BudgetReader, steps?: TraceStep[]): Promise<Verdict> {
  const req: Request = { input, now: input.now ?? new Date(), context: undefined };
  for (const rule of rules) {
    if (steps && !matches(rule, input.tool)) {
      steps.push({ ruleId: rule.id, matched: false, why: `tool ${input.tool} does not match ${rule.tools.join(', ')}` });
      continue;
    }
    const pending = outcomeOf(rule, req, budgets);
    const outcome = pending instanceof Promise ? await pending : pending;
    const decided = outcome.kind === 'decide' || outcome.kind === 'error';
    steps?.push({ ruleId: rule.id, matched: decided, why: why(rule, outcome) });
    if (decided) return outcome.verdict;
  }
  return { ...fallback };
}
