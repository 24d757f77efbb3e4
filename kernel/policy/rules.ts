import { KernelError } from '../errors.ts';
import type { ApproverRequirement, PolicyDecision, Verdict } from '../types.ts';
import { compileExpression, type Expression, type ExpressionRole } from './cel.ts';
import { DURATION_HELP, WINDOW_HELP, parseDuration, parseWindow } from './duration.ts';
import { globProblem, globToRegExp } from './glob.ts';
import type { RuleConfig } from './types.ts';

/** A rule ready to evaluate: expressions compiled, defaults filled, its verdict built once. */
export interface CompiledRule {
  id: string;
  tools: readonly string[];
  patterns: readonly RegExp[];
  when?: { source: string; run: Expression };
  limit?: { source: string; sum: Expression; per: string; windowSeconds: number; max: number };
  verdict: Verdict;
  /** The rule with defaults filled in: what the policy version is computed over. */
  normalized: RuleConfig;
}

export const DECISIONS: readonly PolicyDecision[] = ['allow', 'deny', 'approve'];
export const DEFAULT_APPROVERS: ApproverRequirement = { role: 'owner', count: 1 };
export const DEFAULT_EXPIRES = '1h';
const RULE_KEYS = ['id', 'tools', 'when', 'decision', 'approvers', 'expires', 'reason', 'limit'];
const LIMIT_KEYS = ['sum', 'per', 'max'];

type Path = (string | number)[];

/** A load-time policy error; `details.path` points into the policy config so the config loader can add a line. */
export function policyError(path: Path, message: string, offset?: number): KernelError {
  return new KernelError('policy_error', message, offset === undefined ? { path } : { path, offset });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(value: Record<string, unknown>, known: string[], path: Path, what: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw policyError([...path, key], `${what} has an unknown key "${key}"; known keys: ${known.join(', ')}`);
  }
}

function expression(source: unknown, role: ExpressionRole, path: Path, label: string): { source: string; run: Expression } {
  if (typeof source !== 'string' || source.trim() === '') {
    throw policyError(path, `${label} must be a CEL expression in a string, e.g. ${role === 'when' ? 'args.amount <= 5000' : 'args.amount'}`);
  }
  const compiled = compileExpression(source, role);
  if (compiled.ok) return { source, run: compiled.run };
  const { kind, message, offset } = compiled.problem;
  const fix =
    kind === 'syntax'
      ? 'fix the expression syntax (CEL: https://cel.dev)'
      : 'variables are tool (string), args (map), intent (summary, consequence, reversible, fields, pins), agent (id, name, owner) and now (timestamp)';
  const at = offset === undefined ? '' : ` at character ${offset + 1}`;
  const shown = source.trim().replace(/\s*\n\s*/g, ' ');
  throw policyError(path, `${label} \`${shown}\` has a CEL ${kind} error${at}: ${message}; ${fix}`, offset);
}

/** Validates one rule config and compiles it; throws a `policy_error` naming the rule and how to fix it. */
export function compileRule(raw: unknown, index: number, roles: ReadonlySet<string>): CompiledRule {
  const path: Path = ['rules', index];
  if (!isObject(raw)) throw policyError(path, `rule ${index + 1} must be a map with at least id, tools and decision`);
  const id = raw.id;
  if (typeof id !== 'string' || id.trim() === '') throw policyError([...path, 'id'], `rule ${index + 1} needs an id: a short name such as "small-refunds"`);
  const name = `rule "${id}"`;
  unknownKeys(raw, RULE_KEYS, path, name);

  const tools = raw.tools;
  if (!Array.isArray(tools) || tools.length === 0) {
    throw policyError([...path, 'tools'], `${name}: tools must be a non-empty list of tool names or globs, e.g. [github_get_*]`);
  }
  tools.forEach((glob, i) => {
    const problem = globProblem(glob);
    if (problem) throw policyError([...path, 'tools', i], `${name}: ${problem}`);
  });
  const globs = tools as string[];

  const decision = raw.decision as PolicyDecision;
  if (!DECISIONS.includes(decision)) {
    throw policyError([...path, 'decision'], `${name}: decision must be allow, deny or approve, got ${JSON.stringify(raw.decision) ?? 'nothing'}`);
  }
  if (decision !== 'approve') {
    for (const key of ['approvers', 'expires'] as const) {
      if (raw[key] !== undefined) throw policyError([...path, key], `${name}: ${key} only applies to decision approve; remove it or change the decision`);
    }
  }
  if (raw.reason !== undefined && typeof raw.reason !== 'string') throw policyError([...path, 'reason'], `${name}: reason must be a string`);

  const when = raw.when === undefined ? undefined : expression(raw.when, 'when', [...path, 'when'], `${name}: when`);
  const limit = raw.limit === undefined ? undefined : compileLimit(raw.limit, [...path, 'limit'], name);
  const approvers = decision === 'approve' ? compileApprovers(raw.approvers, [...path, 'approvers'], name, roles) : undefined;
  const expires = raw.expires ?? DEFAULT_EXPIRES;
  const expiresInSeconds = decision === 'approve' ? parseDuration(expires) : null;
  if (decision === 'approve' && expiresInSeconds === null) {
    throw policyError([...path, 'expires'], `${name}: expires ${JSON.stringify(expires)} is not a duration; ${DURATION_HELP}`);
  }

  const reason = typeof raw.reason === 'string' ? raw.reason : undefined;
  const verdict: Verdict = { decision, ruleId: id, reason: reason ?? defaultReason(decision, id) };
  if (approvers) verdict.approvers = approvers;
  if (expiresInSeconds !== null) verdict.expiresInSeconds = expiresInSeconds;

  const normalized: RuleConfig = { id, tools: globs, decision };
  if (when) normalized.when = when.source;
  if (approvers) normalized.approvers = approvers;
  if (decision === 'approve') normalized.expires = expires as string;
  if (reason !== undefined) normalized.reason = reason;
  if (limit) normalized.limit = { sum: limit.source, per: limit.per, max: limit.max };
  return { id, tools: globs, patterns: globs.map(globToRegExp), when, limit, verdict, normalized };
}

function defaultReason(decision: PolicyDecision, id: string): string {
  if (decision === 'allow') return `allowed by rule "${id}"`;
  if (decision === 'deny') return `denied by rule "${id}"`;
  return `rule "${id}" requires approval`;
}

function compileApprovers(raw: unknown, path: Path, name: string, roles: ReadonlySet<string>): ApproverRequirement {
  if (raw === undefined) return { ...DEFAULT_APPROVERS };
  if (!isObject(raw)) throw policyError(path, `${name}: approvers must be a map like {role: finance, count: 1}`);
  unknownKeys(raw, ['role', 'count'], path, `${name}: approvers`);
  const role = raw.role ?? DEFAULT_APPROVERS.role;
  const count = raw.count ?? DEFAULT_APPROVERS.count;
  if (typeof role !== 'string' || !roles.has(role)) {
    const known = [...roles].sort().join(', ');
    throw policyError([...path, 'role'], `${name}: approvers role ${JSON.stringify(role)} is not a known role; use one of ${known}, or add it under roles: in the config`);
  }
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 100) {
    throw policyError([...path, 'count'], `${name}: approvers count must be a whole number from 1 to 100, got ${JSON.stringify(count)}`);
  }
  return { role, count };
}

function compileLimit(raw: unknown, path: Path, name: string): NonNullable<CompiledRule['limit']> {
  if (!isObject(raw)) throw policyError(path, `${name}: limit must be a map like {sum: args.amount, per: day, max: 20000}`);
  unknownKeys(raw, LIMIT_KEYS, path, `${name}: limit`);
  const sum = expression(raw.sum, 'sum', [...path, 'sum'], `${name}: limit.sum`);
  const windowSeconds = parseWindow(raw.per);
  if (windowSeconds === null) throw policyError([...path, 'per'], `${name}: limit.per ${JSON.stringify(raw.per) ?? 'is missing'}; ${WINDOW_HELP}`);
  const max = raw.max;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0) {
    throw policyError([...path, 'max'], `${name}: limit.max must be a whole number of at least 0 (same unit as sum, e.g. cents), got ${JSON.stringify(max) ?? 'nothing'}`);
  }
  return { source: sum.source, sum: sum.run, per: raw.per as string, windowSeconds, max };
}
