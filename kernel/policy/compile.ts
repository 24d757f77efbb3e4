import { jcs, sha256Hex } from '../digest.ts';
import type { PolicyDecision, Verdict } from '../types.ts';
import { decide, trace } from './evaluate.ts';
import { ToolIndex } from './glob.ts';
import { DECISIONS, DEFAULT_APPROVERS, DEFAULT_EXPIRES, compileRule, policyError, type CompiledRule } from './rules.ts';
import { parseDuration } from './duration.ts';
import type { CompileOptions, CompiledPolicy, PolicyConfig, RuleLimit } from './types.ts';

const OWNER_ROLE = 'owner';

function defaultVerdict(decision: PolicyDecision): Verdict {
  const reason = `no rule matched; the policy default is ${decision}`;
  if (decision !== 'approve') return { decision, ruleId: null, reason };
  return { decision, ruleId: null, reason, approvers: { ...DEFAULT_APPROVERS }, expiresInSeconds: parseDuration(DEFAULT_EXPIRES)! };
}

/**
 * Compiles a policy once, at load: validates every rule, parses and type-checks every CEL expression, and indexes
 * rules by tool name. Throws a KernelError `policy_error` whose message names the rule, what is wrong and how to fix
 * it; `details.path` points into the config (e.g. `['rules', 2, 'when']`) so a loader can add the file position.
 *
 * @example
 * const policy = compilePolicy({ rules: [{ id: 'reads', tools: ['github_get_*'], decision: 'allow' }] }, { roles: ['finance'] });
 * const verdict = await policy.evaluate({ tool: 'github_get_repo', args: {}, agent }, budgets);
 */
export function compilePolicy(config: PolicyConfig, options: CompileOptions = {}): CompiledPolicy {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw policyError([], 'policy must be a map with `default` and `rules`');
  }
  for (const key of Object.keys(config)) {
    if (key !== 'default' && key !== 'rules') throw policyError([key], `policy has an unknown key "${key}"; known keys: default, rules`);
  }
  const fallback = config.default ?? 'approve';
  if (!DECISIONS.includes(fallback)) {
    throw policyError(['default'], `policy default must be allow, deny or approve, got ${JSON.stringify(config.default)}`);
  }
  const rawRules: unknown = config.rules ?? [];
  if (!Array.isArray(rawRules)) throw policyError(['rules'], 'policy rules must be a list of rules (each starting with "- id: ...")');

  const roles = new Set([OWNER_ROLE, ...(options.roles ?? [])]);
  const seen = new Map<string, number>();
  const rules: CompiledRule[] = rawRules.map((raw, i) => {
    const rule = compileRule(raw, i, roles);
    const first = seen.get(rule.id);
    if (first !== undefined) {
      throw policyError(['rules', i, 'id'], `rule id "${rule.id}" is used twice (rules ${first + 1} and ${i + 1}); give each rule its own id`);
    }
    seen.set(rule.id, i);
    return rule;
  });

  const index = new ToolIndex(rules);
  const fallbackVerdict = defaultVerdict(fallback);
  const version = sha256Hex(jcs({ default: fallback, rules: rules.map((rule) => rule.normalized) }));
  const limits = new Map<string, RuleLimit>();
  for (const rule of rules) if (rule.limit) limits.set(rule.id, { max: rule.limit.max, windowSeconds: rule.limit.windowSeconds });

  return {
    version,
    ruleIds: rules.map((rule) => rule.id),
    evaluate: (input, budgets) => decide(rules, index, fallbackVerdict, input, budgets),
    explain: (input, budgets) => trace(rules, fallbackVerdict, input, budgets),
    limitOf: (ruleId) => limits.get(ruleId),
  };
}
