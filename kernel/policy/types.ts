import type { ApproverRequirement, Intent, JsonObject, PolicyDecision, Verdict } from '../types.ts';

/** One rule as written in the `policy.rules` list of countersign.yaml (already parsed from YAML). */
export interface RuleConfig {
  id: string;
  /** Tool names or globs: `*` matches any run of characters, `?` exactly one. */
  tools: string[];
  /** A CEL expression over `tool`, `args`, `intent`, `agent`, `now`; the rule matches only when it is true. */
  when?: string;
  decision: PolicyDecision;
  /** Only for `approve`. Default: one approval from the agent's owner. */
  approvers?: ApproverRequirement;
  /** Only for `approve`: how long the approval waits, e.g. `15m`, `2h`, `1d`. Default `1h`. */
  expires?: string;
  reason?: string;
  /** A spending budget: the rule matches only while `spent in the window + sum <= max`. */
  limit?: { sum: string; per: string; max: number };
}

/** `default` is what happens when no rule matches: `approve` unless set, so an unmatched request fails closed. */
export interface PolicyConfig { default?: PolicyDecision; rules?: RuleConfig[] }

/** `roles`: the role names from config `roles`; `owner` is built in. */
export interface CompileOptions { roles?: readonly string[] }

/** The agent as CEL sees it (`agent.id`, `agent.name`, `agent.owner`), built from the kernel-stamped principal. */
export interface PolicyAgent { id: string; name: string; owner: string }

/** What policy sees of a request. `intent` may be partial offline (`policy explain`), `now` defaults to the clock. */
export interface PolicyInput {
  tool: string;
  args: JsonObject;
  intent?: Partial<Pick<Intent, 'summary' | 'consequence' | 'reversible' | 'fields' | 'pins'>>;
  agent: PolicyAgent;
  now?: Date;
}

/** Spending so far on a rule's budget. Budgets are keyed; every rule uses the key `global` for now. */
export interface BudgetReader { spent(ruleId: string, key: string, since: Date): Promise<number> }

/** One line of `policy explain`: a rule that was considered and why it did or did not decide. */
export interface TraceStep { ruleId: string; matched: boolean; why: string }

export interface PolicyExplanation { verdict: Verdict; trace: TraceStep[] }

/** A rule's budget, for stores that check the limit again when they record a spend. */
export interface RuleLimit { max: number; windowSeconds: number }

/** A policy compiled once at load: evaluation does no parsing and no type checking. */
export interface CompiledPolicy {
  /** sha256 of the JCS of the normalized policy config: part of every request digest. */
  readonly version: string;
  readonly ruleIds: readonly string[];
  /** The verdict for one request. Never throws for a well-formed input: errors fail closed to `deny`. */
  evaluate(input: PolicyInput, budgets?: BudgetReader): Promise<Verdict>;
  /** The verdict plus a trace of every rule up to the one that decided. */
  explain(input: PolicyInput, budgets?: BudgetReader): Promise<PolicyExplanation>;
  limitOf(ruleId: string): RuleLimit | undefined;
}
