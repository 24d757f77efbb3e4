import { jcs, sha256Hex } from '../digest.ts';
import { KernelError } from '../errors.ts';
import type { ApproverRequirement, PolicyDecision, Verdict } from '../types.ts';
import { compileExpression, type Expression } from './cel.ts';
import { toolIndex, walk } from './evaluate.ts';
import type { CompileOptions, CompiledPolicy, PolicyConfig, RuleConfig, TraceStep } from './types.ts';

/** A rule ready to evaluate: expressions compiled, defaults filled, its verdict (and `limit.window`, "the last day") built once. */
export interface CompiledRule {
  id: string;
  tools: readonly string[];
  patterns: readonly RegExp[];
  when?: { source: string; run: Expression };
  limit?: { source: string; sum: Expression; per: string; windowSeconds: number; max: number; window: string };
  verdict: Verdict;
  /** The rule with defaults filled in: what the policy version is computed over (JCS leaves out undefined parts). */
  normalized: RuleConfig;
}

type Path = (string | number)[];
type Fail = (path: Path, message: string, offset?: number) => KernelError;

const DECISIONS: readonly PolicyDecision[] = ['allow', 'deny', 'approve'];
const DEFAULT_APPROVERS: ApproverRequirement = { role: 'owner', count: 1 };
const DEFAULT_EXPIRES = '1h';
// Tool names hold only [a-z0-9_], so besides the wildcards nothing in a glob needs escaping to become a RegExp.
const GLOB = /^[a-z0-9_*?]{1,64}$/;
const DURATION = /^([1-9][0-9]{0,6})([smhdw])$/;
const UNITS: Record<string, [number, string]> = { s: [1, 'second'], m: [60, 'minute'], h: [3600, 'hour'], d: [86_400, 'day'], w: [604_800, 'week'] };
const WINDOWS: Record<string, string> = { hour: '1h', day: '1d', week: '1w' };
const DURATION_HELP = 'write a whole number followed by s, m, h, d or w, e.g. "15m", "2h", "1d"';
const WINDOW_HELP = 'write hour, day, week, or a duration such as "24h" or "7d"';
const windowDuration = (text: string): string => (Object.hasOwn(WINDOWS, text) ? WINDOWS[text] : text);

/** Seconds in a duration such as `30s`, `15m`, `2h`, `1d`, `1w`, or null when it is not one. */
export function parseDuration(text: unknown): number | null {
  const match = typeof text === 'string' ? DURATION.exec(text.trim()) : null;
  return match ? Number(match[1]) * UNITS[match[2]][0] : null;
}

/** Seconds in a budget window: `hour`, `day`, `week` or a duration. */
export const parseWindow = (text: unknown): number | null => parseDuration(typeof text === 'string' ? windowDuration(text) : text);

/** A load-time policy error; `details.path` points into the policy config so the config loader can add a line. */
const policyError: Fail = (path, message, offset) => new KernelError('policy_error', message, { path, offset });

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Throws for the first key of `value` that is not in `known`, at `path` + the key. */
function unknownKeys(value: object, known: string[], what: string, fail: Fail, path: Path = []): void {
  const key = Object.keys(value).find((k) => !known.includes(k));
  if (key !== undefined) throw fail([...path, key], `${what} has an unknown key "${key}"; known keys: ${known.join(', ')}`);
}

/** Why a tool glob is unusable, or null when it is fine. */
function globProblem(glob: unknown): string | null {
  if (typeof glob !== 'string') return `a tool pattern must be a string, got ${glob === null ? 'null' : Array.isArray(glob) ? 'a list' : typeof glob}`;
  if (glob.length === 0) return 'a tool pattern is empty';
  if (GLOB.test(glob)) return null;
  return `tool pattern "${glob}" may only hold lowercase letters, digits, "_" and the wildcards "*" and "?" (tool names look like github_merge_pull_request; write e.g. "github_*")`;
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
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw policyError([], 'policy must be a map with `default` and `rules`');
  unknownKeys(config, ['default', 'rules'], 'policy', policyError);
  const fallback = config.default ?? 'approve';
  if (!DECISIONS.includes(fallback)) throw policyError(['default'], `policy default must be allow, deny or approve, got ${JSON.stringify(config.default)}`);
  const rawRules: unknown = config.rules ?? [];
  if (!Array.isArray(rawRules)) throw policyError(['rules'], 'policy rules must be a list of rules (each starting with "- id: ...")');
  const roles = new Set(['owner', ...(options.roles ?? [])]);
  const rules: CompiledRule[] = [];
  for (const [i, raw] of rawRules.entries()) {
    const rule = compileRule(raw, i, roles);
    const first = rules.findIndex((earlier) => earlier.id === rule.id);
    if (first >= 0) throw policyError(['rules', i, 'id'], `rule id "${rule.id}" is used twice (rules ${first + 1} and ${i + 1}); give each rule its own id`);
    rules.push(rule);
  }
  const approval = fallback === 'approve' && { approvers: { ...DEFAULT_APPROVERS }, expiresInSeconds: parseDuration(DEFAULT_EXPIRES)! };
  const fallbackVerdict: Verdict = { decision: fallback, ruleId: null, reason: `no rule matched; the policy default is ${fallback}`, ...approval };
  const limits = new Map(rules.flatMap(({ id, limit }) => (limit ? [[id, { max: limit.max, windowSeconds: limit.windowSeconds }] as const] : [])));
  const candidates = toolIndex(rules);
  return {
    version: sha256Hex(jcs({ default: fallback, rules: rules.map((rule) => rule.normalized) })),
    ruleIds: rules.map((rule) => rule.id),
    evaluate: (input, budgets) => walk(candidates(input.tool), fallbackVerdict, input, budgets),
    async explain(input, budgets) {
      const trace: TraceStep[] = [];
      return { verdict: await walk(rules, fallbackVerdict, input, budgets, trace), trace };
    },
    limitOf: (ruleId) => limits.get(ruleId),
  };
}

/** Validates one rule config and compiles it; throws a `policy_error` naming the rule and how to fix it. */
function compileRule(raw: unknown, index: number, roles: ReadonlySet<string>): CompiledRule {
  const at: Path = ['rules', index];
  if (!isObject(raw)) throw policyError(at, `rule ${index + 1} must be a map with at least id, tools and decision`);
  const { id, tools, reason } = raw;
  if (typeof id !== 'string' || id.trim() === '') throw policyError([...at, 'id'], `rule ${index + 1} needs an id: a short name such as "small-refunds"`);
  const fail: Fail = (path, message, offset) => policyError([...at, ...path], `rule "${id}": ${message}`, offset);
  unknownKeys(raw, ['id', 'tools', 'when', 'decision', 'approvers', 'expires', 'reason', 'limit'], `rule "${id}"`, policyError, at);
  if (!Array.isArray(tools) || tools.length === 0) throw fail(['tools'], 'tools must be a non-empty list of tool names or globs, e.g. [github_get_*]');
  const bad = tools.findIndex((glob) => globProblem(glob) !== null);
  if (bad >= 0) throw fail(['tools', bad], globProblem(tools[bad])!);
  const decision = raw.decision as PolicyDecision;
  if (!DECISIONS.includes(decision)) throw fail(['decision'], `decision must be allow, deny or approve, got ${JSON.stringify(raw.decision) ?? 'nothing'}`);
  const misplaced = decision === 'approve' ? undefined : (['approvers', 'expires'] as const).find((key) => raw[key] !== undefined);
  if (misplaced) throw fail([misplaced], `${misplaced} only applies to decision approve; remove it or change the decision`);
  if (reason !== undefined && typeof reason !== 'string') throw fail(['reason'], 'reason must be a string');
  const when = raw.when === undefined ? undefined : compileExpression(raw.when, 'when', (message, offset) => fail(['when'], message, offset));
  const limit = raw.limit === undefined ? undefined : compileLimit(raw.limit, fail);
  const approvers = decision === 'approve' ? compileApprovers(raw.approvers, roles, fail) : undefined;
  const expires = approvers && (raw.expires ?? DEFAULT_EXPIRES);
  const expiresInSeconds = approvers && parseDuration(expires);
  if (expiresInSeconds === null) throw fail(['expires'], `expires ${JSON.stringify(expires)} is not a duration; ${DURATION_HELP}`);
  const globs: string[] = tools;
  const verdict: Verdict = { decision, ruleId: id, reason: reason ?? defaultReason(decision, id), ...(approvers && { approvers, expiresInSeconds }) };
  const budget = limit && { sum: limit.source, per: limit.per, max: limit.max };
  const normalized: RuleConfig = { id, tools: globs, decision, when: when?.source, approvers, expires: expires as string | undefined, reason, limit: budget };
  const patterns = globs.map((glob) => new RegExp(`^${glob.replaceAll('*', '.*').replaceAll('?', '.')}$`));
  return { id, tools: globs, patterns, when, limit, verdict, normalized };
}

function defaultReason(decision: PolicyDecision, id: string): string {
  return decision === 'approve' ? `rule "${id}" requires approval` : `${decision === 'allow' ? 'allowed' : 'denied'} by rule "${id}"`;
}

function compileApprovers(raw: unknown, roles: ReadonlySet<string>, fail: Fail): ApproverRequirement {
  if (raw === undefined) return { ...DEFAULT_APPROVERS };
  if (!isObject(raw)) throw fail(['approvers'], 'approvers must be a map like {role: finance, count: 1}');
  unknownKeys(raw, ['role', 'count'], 'approvers', fail, ['approvers']);
  const role = raw.role ?? DEFAULT_APPROVERS.role;
  const count = raw.count ?? DEFAULT_APPROVERS.count;
  if (typeof role !== 'string' || !roles.has(role)) throw fail(['approvers', 'role'], `approvers role ${JSON.stringify(role)} is not a known role; use one of ${[...roles].sort().join(', ')}, or add it under roles: in the config`);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 100) throw fail(['approvers', 'count'], `approvers count must be a whole number from 1 to 100, got ${JSON.stringify(count)}`);
  return { role, count };
}

function compileLimit(raw: unknown, fail: Fail): NonNullable<CompiledRule['limit']> {
  if (!isObject(raw)) throw fail(['limit'], 'limit must be a map like {sum: args.amount, per: day, max: 20000}');
  unknownKeys(raw, ['sum', 'per', 'max'], 'limit', fail, ['limit']);
  const { source, run: sum } = compileExpression(raw.sum, 'sum', (message, offset) => fail(['limit', 'sum'], message, offset));
  const windowSeconds = parseWindow(raw.per);
  if (windowSeconds === null) throw fail(['limit', 'per'], `limit.per ${JSON.stringify(raw.per) ?? 'is missing'}; ${WINDOW_HELP}`);
  const max = raw.max;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0) throw fail(['limit', 'max'], `limit.max must be a whole number of at least 0 (same unit as sum, e.g. cents), got ${JSON.stringify(max) ?? 'nothing'}`);
  const [, count, unit] = DURATION.exec(windowDuration(raw.per as string).trim())!; // it parsed above, so it matches
  const window = count === '1' ? `the last ${UNITS[unit][1]}` : `the last ${count} ${UNITS[unit][1]}s`;
  return { source, sum, per: raw.per as string, windowSeconds, max, window };
}
