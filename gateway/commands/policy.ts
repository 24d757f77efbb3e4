import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import {
  KernelError,
  compilePolicy,
  type BudgetReader,
  type CompiledPolicy,
  type JsonObject,
  type PolicyAgent,
  type PolicyExplanation,
  type PolicyInput,
} from '../../kernel/index.ts';
import type { CommandOutput } from '../admin.ts';
import { loadConfig, type Config } from '../config.ts';
import { policyToolProblems, policyTypeProblems } from '../policy-tools.ts';
import { BUILTIN_TOOLS } from '../../tools/catalog.ts';
import { formatCheck, formatExplanation, formatTest } from './policy-format.ts';

/** `countersign policy check|explain|test`: offline, from the config file alone (no database, no connectors). */

export const PLACEHOLDER_AGENT: PolicyAgent = { id: 'agt_offline', name: 'offline-agent', owner: 'owner@example.com' };

export interface CheckResult {
  ok: boolean;
  message: string;
  rules: string[];
  version?: string;
}

function compiled(configPath: string): CompiledPolicy {
  return compiledWithTools(configPath).policy;
}

/** The compiled policy, and the tool names it uses that no built-in connector or configured MCP server offers (offline: the catalog). */
function compiledWithTools(configPath: string): { config: Config; policy: CompiledPolicy; toolProblems: string[] } {
  const config = loadConfig(configPath);
  const policy = compilePolicy(config.policy, { roles: Object.keys(config.roles) });
  return { config, policy, toolProblems: policyToolProblems(config.policy, Object.keys(BUILTIN_TOOLS), Object.keys(config.connectors.mcp?.servers ?? {})) };
}

/** Loads and compiles the config and checks its tool names and argument types; never throws for a bad config, it says what is wrong instead. */
export async function checkPolicyFile(configPath: string): Promise<CheckResult> {
  try {
    const { config, policy, toolProblems } = compiledWithTools(configPath);
    const builtin = Object.entries(BUILTIN_TOOLS).map(([name, args]) => ({ name, args }));
    const problems = toolProblems.length ? toolProblems : policyTypeProblems(config.policy, builtin);
    if (problems.length) return { ok: false, message: problems.map((p) => `${configPath}: ${p}`).join('\n'), rules: [] };
    const n = policy.ruleIds.length;
    return { ok: true, message: `${configPath}: OK, ${n} rule${n === 1 ? '' : 's'}, policy version ${policy.version.slice(0, 12)}`, rules: [...policy.ruleIds], version: policy.version };
  } catch (error) {
    if (error instanceof KernelError) return { ok: false, message: error.message, rules: [] };
    throw error;
  }
}

/** Budgets offline: nothing is known to be spent, unless a test case says how much. */
const budgetsFrom = (spent: Record<string, number> = {}): BudgetReader => ({ spent: async (ruleId) => spent[ruleId] ?? 0 });

export interface ExplainRequest {
  tool: string;
  args: JsonObject;
  agent?: PolicyAgent;
  intent?: PolicyInput['intent'];
  spent?: Record<string, number>;
}

/** The verdict and trace for one hypothetical call. Offline the intent is unknown unless given: just the tool. */
export async function explainPolicyFile(configPath: string, request: ExplainRequest): Promise<PolicyExplanation> {
  const policy = compiled(configPath);
  const input: PolicyInput = { tool: request.tool, args: request.args, agent: request.agent ?? PLACEHOLDER_AGENT, intent: request.intent ?? {} };
  return policy.explain(input, budgetsFrom(request.spent));
}

const decision = z.enum(['allow', 'deny', 'approve'], { error: 'expect must be allow, deny or approve' });
const caseSchema = z.strictObject({
  name: z.string().optional(),
  tool: z.string({ error: 'tool must be a tool name, e.g. stripe_create_refund' }),
  args: z.record(z.string(), z.unknown(), { error: 'args must be a map of arguments' }).optional(),
  agent: z.strictObject({ id: z.string().optional(), name: z.string().optional(), owner: z.string().optional() }).optional(),
  intent: z.record(z.string(), z.unknown(), { error: 'intent must be a map, e.g. {pins: {currency: USD}}' }).optional(),
  spent: z.record(z.string(), z.number(), { error: 'spent must map rule ids to amounts already spent' }).optional(),
  expect: decision,
  rule: z.string().nullable().optional(),
});

export interface CaseResult {
  name: string;
  ok: boolean;
  expected: string;
  got: string;
  ruleId: string | null;
  reason: string;
}

export interface TestResult {
  ok: boolean;
  passed: number;
  failed: CaseResult[];
  results: CaseResult[];
}

/** Runs a YAML list of cases `{tool, args, agent?, intent?, spent?, expect, rule?}` against the policy. */
export async function testPolicyFile(configPath: string, casesFile: string): Promise<TestResult> {
  const policy = compiled(configPath);
  const cases = readCases(casesFile);
  const results: CaseResult[] = [];
  for (const [i, c] of cases.entries()) {
    const agent = { ...PLACEHOLDER_AGENT, ...c.agent };
    const input: PolicyInput = { tool: c.tool, args: (c.args ?? {}) as JsonObject, agent, intent: (c.intent ?? {}) as PolicyInput['intent'] };
    const verdict = await policy.evaluate(input, budgetsFrom(c.spent));
    const ruleOk = c.rule === undefined || c.rule === verdict.ruleId;
    const ok = verdict.decision === c.expect && ruleOk;
    const expected = c.rule === undefined ? c.expect : `${c.expect} by ${c.rule ?? 'the default'}`;
    const got = `${verdict.decision} by ${verdict.ruleId ?? 'the default'}`;
    results.push({ name: c.name ?? `case ${i + 1} (${c.tool})`, ok, expected, got, ruleId: verdict.ruleId, reason: verdict.reason });
  }
  const failed = results.filter((r) => !r.ok);
  return { ok: failed.length === 0, passed: results.length - failed.length, failed, results };
}

function readCases(file: string): z.infer<typeof caseSchema>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KernelError('bad_request', `${file}: cannot read the test cases (${(error as Error).message}); pass a YAML file listing cases`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) throw new KernelError('bad_request', `${at(doc.errors[0]!.pos[0])}: YAML syntax: ${doc.errors[0]!.message.split('\n')[0]}`);
  const raw: unknown = doc.toJS();
  const list = raw && typeof raw === 'object' && !Array.isArray(raw) && 'cases' in raw ? (raw as { cases: unknown }).cases : raw;
  if (!Array.isArray(list) || list.length === 0) {
    throw new KernelError('bad_request', `${file}: expected a list of cases, e.g.\n- tool: stripe_create_refund\n  args: {charge: ch_1, amount: 3000}\n  expect: allow`);
  }
  const base = list === raw ? [] : ['cases'];
  return list.map((item, i) => {
    const parsed = caseSchema.safeParse(item);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const node = doc.getIn([...base, i, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], true) ?? doc.getIn([...base, i], true);
    const offset = (node as { range?: [number] } | undefined)?.range?.[0] ?? 0;
    const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}; a case has tool, args, agent, intent, spent, expect, rule, name` : issue.message;
    throw new KernelError('bad_request', `${at(offset)}: case ${i + 1}: ${message}`);
  });
}

function parseArgsJson(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new KernelError('bad_request', `--args is not valid JSON (${(error as Error).message}); write e.g. --args '{"charge":"ch_1","amount":3000}'`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new KernelError('bad_request', `--args must be a JSON object, e.g. '{"amount":3000}'`);
  return value as JsonObject;
}

function parseAgent(text: string | undefined): PolicyAgent {
  if (!text) return PLACEHOLDER_AGENT;
  if (!text.trim().startsWith('{')) return { ...PLACEHOLDER_AGENT, name: text };
  const value = JSON.parse(text) as Partial<PolicyAgent>;
  return { ...PLACEHOLDER_AGENT, ...value };
}

async function run(json: boolean, work: () => Promise<CommandOutput>): Promise<CommandOutput> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof KernelError)) throw error;
    return { exitCode: 1, stdout: json ? `${JSON.stringify({ ok: false, error: error.toJSON() })}\n` : `${error.message}\n` };
  }
}

/** CLI: `countersign policy check [--json]`. Exit 1 when the config is invalid. */
export async function policyCheck(configPath: string, options: { json?: boolean } = {}): Promise<CommandOutput> {
  const result = await checkPolicyFile(configPath);
  return { exitCode: result.ok ? 0 : 1, stdout: options.json ? `${JSON.stringify(result)}\n` : formatCheck(result) };
}

/** The --args, --pins and --agent of `policy explain`, parsed (offline and live alike). */
function explainInput(options: { args?: string; agent?: string; pins?: string }): { args: JsonObject; pins: JsonObject | undefined; agent: PolicyAgent } {
  return { args: parseArgsJson(options.args ?? '{}'), pins: options.pins ? parseArgsJson(options.pins) : undefined, agent: parseAgent(options.agent) };
}

/** CLI: `countersign policy explain --tool NAME [--args JSON] [--agent NAME|JSON] [--pins JSON] [--json]`. */
export async function policyExplain(
  configPath: string,
  options: { tool: string; args?: string; agent?: string; pins?: string; json?: boolean },
): Promise<CommandOutput> {
  const json = options.json ?? false;
  return run(json, async () => {
    const { args, pins, agent } = explainInput(options);
    const explanation = await explainPolicyFile(configPath, { tool: options.tool, args, agent, intent: pins ? { pins } : {} });
    return { exitCode: 0, stdout: json ? `${JSON.stringify({ ok: true, ...explanation })}\n` : formatExplanation(options.tool, explanation, !pins) };
  });
}

/**
 * `policy explain` inside a running server: the policy in force, the intent and pins the connector describes now (its
 * upstream read, nothing executed), and budgets as spent so far; in `--isolation process` the executor describes it,
 * asked over the router. Without `describe` (a server without its connectors) pins are unknown and the output says so.
 */
export async function policyExplainLive(
  live: { policy: CompiledPolicy; budgets: BudgetReader; describe?: (tool: string, args: JsonObject) => Promise<{ intent: PolicyInput['intent']; connector: string; sandbox: boolean }> },
  options: { tool: string; args?: string; agent?: string; pins?: string; json?: boolean },
): Promise<CommandOutput> {
  const json = options.json ?? false;
  return run(json, async () => {
    const { args, pins, agent } = explainInput(options);
    const described = live.describe ? await live.describe(options.tool, args) : null;
    const intent = described ? { ...described.intent, ...(pins ? { pins: { ...((described.intent?.pins ?? {}) as JsonObject), ...pins } } : {}) } : pins ? { pins } : {};
    const explanation = await live.policy.explain({ tool: options.tool, args, agent, intent }, live.budgets);
    const source = described
      ? `live: the running server's policy (version ${live.policy.version}); intent and pins as the ${described.connector} connector${described.sandbox ? ' (SANDBOX)' : ''} describes this call now; budgets as spent so far`
      : `the running server's policy (version ${live.policy.version}) and budgets; its connectors run in their own processes, so intent pins are unknown${pins ? ' (given with --pins)' : ' (pass --pins JSON to supply them)'}`;
    if (json) return { exitCode: 0, stdout: `${JSON.stringify({ ok: true, live: described !== null, intent, ...explanation })}\n` };
    return { exitCode: 0, stdout: formatExplanation(options.tool, explanation, !described && !pins, source) };
  });
}

/** CLI: `countersign policy test CASES.yaml [--json]`. Exit 1 when any case fails. */
export async function policyTest(configPath: string, casesFile: string, options: { json?: boolean } = {}): Promise<CommandOutput> {
  const json = options.json ?? false;
  return run(json, async () => {
    const result = await testPolicyFile(configPath, casesFile);
    return { exitCode: result.ok ? 0 : 1, stdout: json ? `${JSON.stringify(result)}\n` : formatTest(result) };
  });
}
