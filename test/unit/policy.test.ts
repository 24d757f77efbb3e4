import { beforeEach, describe, expect, it } from 'vitest';
import { compilePolicy, KernelError, type BudgetReader, type CompiledPolicy, type PolicyConfig, type PolicyInput } from '../../kernel/index.ts';
import { celMessage, checkEnvironment } from '../../kernel/policy/cel.ts';
import { parseDuration, parseWindow } from '../../kernel/policy/compile.ts';

const agent = { id: 'agt_1', name: 'helper', owner: 'owner@example.com' };
const input = (tool: string, args: PolicyInput['args'] = {}, extra: Partial<PolicyInput> = {}): PolicyInput => ({
  tool,
  args,
  agent,
  now: new Date('2025-06-01T12:00:00Z'),
  ...extra,
});

/** An in-memory budget: spends with times, summed over the window the policy asks for. */
function memoryBudget(entries: { ruleId: string; amount: number; at: Date }[] = []) {
  const asked: { ruleId: string; key: string; since: Date }[] = [];
  const reader: BudgetReader = {
    async spent(ruleId, key, since) {
      asked.push({ ruleId, key, since });
      return entries.filter((e) => e.ruleId === ruleId && e.at >= since).reduce((sum, e) => sum + e.amount, 0);
    },
  };
  return { reader, asked, entries };
}

function loadError(config: PolicyConfig, roles: string[] = []): KernelError {
  try {
    compilePolicy(config, { roles });
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    return error as KernelError;
  }
  throw new Error('expected compilePolicy to throw');
}

// Policies shared by a describe are compiled anew for each test (beforeEach), not once while the file is collected or
// in beforeAll: mutation testing (Stryker) switches a mutant on only once the tests start, and counts what runs
// outside a test as covered by no test, so a policy compiled outside one would never meet a mutant of the compiler.
describe('policy evaluation', () => {
  let policy: CompiledPolicy;
  beforeEach(() => {
    policy = compilePolicy(
      {
        rules: [
          { id: 'reads', tools: ['github_get_*', 'github_list_*'], decision: 'allow' },
          { id: 'no-admin', tools: ['github_add_collaborator'], when: 'args.permission == "admin"', decision: 'deny', reason: 'no admins' },
          { id: 'collab', tools: ['github_add_*'], decision: 'approve', approvers: { role: 'maintainers', count: 2 }, expires: '15m' },
          { id: 'later-reads', tools: ['github_get_repo'], decision: 'deny' },
          { id: 'one-char', tools: ['aws_?cs_update'], decision: 'deny' },
        ],
      },
      { roles: ['maintainers'] },
    );
  });

  it('lets the first matching rule in file order win', async () => {
    expect(await policy.evaluate(input('github_get_repo'))).toEqual({ decision: 'allow', ruleId: 'reads', reason: 'allowed by rule "reads"' });
  });

  it('gives every decision kind with its reason, approvers and expiry', async () => {
    expect(await policy.evaluate(input('github_add_collaborator', { permission: 'admin' }))).toEqual({
      decision: 'deny',
      ruleId: 'no-admin',
      reason: 'no admins',
    });
    expect(await policy.evaluate(input('github_add_collaborator', { permission: 'push' }))).toEqual({
      decision: 'approve',
      ruleId: 'collab',
      reason: 'rule "collab" requires approval',
      approvers: { role: 'maintainers', count: 2 },
      expiresInSeconds: 900,
    });
  });

  it('matches ? as exactly one character', async () => {
    expect(await policy.evaluate(input('aws_ecs_update'))).toEqual({ decision: 'deny', ruleId: 'one-char', reason: 'denied by rule "one-char"' });
    expect((await policy.evaluate(input('aws_eecs_update'))).ruleId).toBeNull();
  });

  it('falls back to the default, approve by the owner for an hour unless configured', async () => {
    expect(await policy.evaluate(input('stripe_create_payout'))).toEqual({
      decision: 'approve',
      ruleId: null,
      reason: 'no rule matched; the policy default is approve',
      approvers: { role: 'owner', count: 1 },
      expiresInSeconds: 3600,
    });
    const denying = compilePolicy({ default: 'deny', rules: [] });
    expect(await denying.evaluate(input('x_y'))).toEqual({ decision: 'deny', ruleId: null, reason: 'no rule matched; the policy default is deny' });
  });

  it('compares JS numbers in args with CEL ints, including arithmetic', async () => {
    const p = compilePolicy({
      rules: [{ id: 'small', tools: ['stripe_create_refund'], when: 'args.amount + 0 <= 5000 && args.amount > 0', decision: 'allow' }],
    });
    expect((await p.evaluate(input('stripe_create_refund', { amount: 5000 }))).decision).toBe('allow');
    expect((await p.evaluate(input('stripe_create_refund', { amount: 5001 }))).decision).toBe('approve');
    expect((await p.evaluate(input('stripe_create_refund', { amount: 12.5 }))).decision).toBe('deny'); // double + int has no overload: fails closed
  });

  it('sees intent, agent and now', async () => {
    const p = compilePolicy({
      rules: [
        {
          id: 'merge-main',
          tools: ['github_merge_pull_request'],
          when: 'intent.pins.base == intent.pins.default_branch && agent.owner.endsWith("@example.com") && now.getHours("UTC") == 12',
          decision: 'deny',
        },
      ],
    });
    const pins = { base: 'main', default_branch: 'main', head_sha: 'abc' };
    expect((await p.evaluate(input('github_merge_pull_request', {}, { intent: { pins } }))).decision).toBe('deny');
    const feature = { ...pins, base: 'feature' };
    expect((await p.evaluate(input('github_merge_pull_request', {}, { intent: { pins: feature } }))).decision).toBe('approve');
  });

  it("sees the agent's id, name and owner", async () => {
    const p = compilePolicy({ rules: [{ id: 'mine', tools: ['x_*'], when: 'agent.id == "agt_1" && agent.name == "helper" && agent.owner == "owner@example.com"', decision: 'allow' }] });
    expect(await p.evaluate(input('x_y'))).toMatchObject({ decision: 'allow', ruleId: 'mine' });
    expect(await p.evaluate(input('x_y', {}, { agent: { ...agent, owner: 'someone@example.com' } }))).toMatchObject({ decision: 'approve', ruleId: null });
  });

  it('gives neutral intent values when the connector described none: the tool as summary, consequence unknown, irreversible-safe defaults', async () => {
    const p = compilePolicy({
      rules: [{ id: 'bare', tools: ['x_*'], when: 'intent.summary == tool && intent.consequence == "unknown" && !intent.reversible && size(intent.fields) == 0 && size(intent.pins) == 0', decision: 'allow' }],
    });
    expect((await p.evaluate(input('x_y'))).decision).toBe('allow');
    const described = { summary: 'Refund 5 EUR', consequence: 'moves-money', reversible: true } as PolicyInput['intent'];
    expect((await p.evaluate(input('x_y', {}, { intent: described }))).decision).toBe('approve');
  });
});

describe('fail closed at evaluation', () => {
  it('denies, naming the rule, when a when expression errors, even on an allow rule', async () => {
    const p = compilePolicy({ rules: [{ id: 'small', tools: ['stripe_*'], when: 'args.amount <= 5000', decision: 'allow' }] });
    const verdict = await p.evaluate(input('stripe_get_balance', {}));
    expect(verdict.decision).toBe('deny');
    expect(verdict.ruleId).toBe('small');
    expect(verdict.reason).toContain('policy rule "small" could not be evaluated');
    expect(verdict.reason).toContain('No such key: amount');
  });

  it('denies when a when expression gives something other than a bool at run time', async () => {
    const p = compilePolicy({ rules: [{ id: 'flag', tools: ['*'], when: 'args.flag', decision: 'allow' }] });
    const verdict = await p.evaluate(input('x_y', { flag: 'yes' }));
    expect(verdict).toMatchObject({ decision: 'deny', ruleId: 'flag' });
    expect(verdict.reason).toContain('not true or false');
  });

  it('does not let has() guards fail', async () => {
    const p = compilePolicy({ rules: [{ id: 'g', tools: ['*'], when: 'has(args.amount) && args.amount > 10', decision: 'deny' }] });
    expect((await p.evaluate(input('x_y', {}))).decision).toBe('approve');
  });
});

describe('budgets', () => {
  let policy: CompiledPolicy;
  beforeEach(() => {
    policy = compilePolicy({
      rules: [
        { id: 'refunds', tools: ['stripe_create_refund'], when: 'args.amount <= 5000', decision: 'allow', limit: { sum: 'args.amount', per: 'day', max: 20000 } },
        { id: 'big', tools: ['stripe_create_refund'], decision: 'approve', approvers: { role: 'owner', count: 1 } },
      ],
    });
  });
  const now = new Date('2025-06-01T12:00:00Z');

  it('allows within the window and says what to spend', async () => {
    const budget = memoryBudget([{ ruleId: 'refunds', amount: 15000, at: new Date(now.getTime() - 3600_000) }]);
    const verdict = await policy.evaluate(input('stripe_create_refund', { amount: 5000 }), budget.reader);
    expect(verdict).toMatchObject({ decision: 'allow', ruleId: 'refunds', spend: { ruleId: 'refunds', key: 'global', amount: 5000 } });
    expect(budget.asked).toEqual([{ ruleId: 'refunds', key: 'global', since: new Date(now.getTime() - 86_400_000) }]);
  });

  it('skips an over-budget rule and goes on to the next', async () => {
    const budget = memoryBudget([{ ruleId: 'refunds', amount: 18000, at: new Date(now.getTime() - 3600_000) }]);
    const verdict = await policy.evaluate(input('stripe_create_refund', { amount: 5000 }), budget.reader);
    expect(verdict).toMatchObject({ decision: 'approve', ruleId: 'big' });
    expect(verdict.spend).toBeUndefined();
  });

  it('forgets spends older than the window', async () => {
    const budget = memoryBudget([{ ruleId: 'refunds', amount: 18000, at: new Date(now.getTime() - 25 * 3600_000) }]);
    expect((await policy.evaluate(input('stripe_create_refund', { amount: 5000 }), budget.reader)).decision).toBe('allow');
  });

  it('fails closed without a budget reader, on a negative sum, and when the reader throws', async () => {
    expect((await policy.evaluate(input('stripe_create_refund', { amount: 100 }))).decision).toBe('deny');
    expect((await policy.evaluate(input('stripe_create_refund', { amount: -100 }), memoryBudget().reader)).decision).toBe('deny');
    const broken: BudgetReader = { spent: async () => Promise.reject(new Error('db down')) };
    const verdict = await policy.evaluate(input('stripe_create_refund', { amount: 100 }), broken);
    expect(verdict).toMatchObject({ decision: 'deny', ruleId: 'refunds' });
    expect(verdict.reason).toContain('db down');
  });

  it('allows a spend that reaches the limit exactly, and a zero amount; one unit more is over', async () => {
    const budget = memoryBudget([{ ruleId: 'refunds', amount: 15000, at: new Date(now.getTime() - 3600_000) }]);
    expect(await policy.evaluate(input('stripe_create_refund', { amount: 5000 }), budget.reader)).toMatchObject({ decision: 'allow', spend: { amount: 5000 } });
    budget.entries.push({ ruleId: 'refunds', amount: 5000, at: now });
    expect(await policy.evaluate(input('stripe_create_refund', { amount: 0 }), budget.reader)).toMatchObject({ decision: 'allow', spend: { amount: 0 } });
    expect(await policy.evaluate(input('stripe_create_refund', { amount: 1 }), budget.reader)).toMatchObject({ decision: 'approve', ruleId: 'big' });
  });

  it('fails closed on an amount it cannot count exactly (not a whole number, or past 2^53) and on a budget that is not a number', async () => {
    const open = compilePolicy({ rules: [{ id: 'any', tools: ['x_*'], decision: 'allow', limit: { sum: 'args.amount', per: 'day', max: Number.MAX_SAFE_INTEGER } }] });
    const reader = memoryBudget().reader;
    expect(await open.evaluate(input('x_y', { amount: 2 ** 53 - 1 }), reader)).toMatchObject({ decision: 'allow', spend: { amount: 2 ** 53 - 1 } });
    for (const amount of [2 ** 53, 2.5, -0.5]) {
      const verdict = await open.evaluate(input('x_y', { amount }), reader);
      expect(verdict, String(amount)).toMatchObject({ decision: 'deny', ruleId: 'any' });
      expect(verdict.reason).toContain('it did not give a whole number of at least 0');
    }
    for (const spent of [Number.NaN, '5' as unknown as number]) {
      const verdict = await open.evaluate(input('x_y', { amount: 1 }), { spent: async () => spent });
      expect(verdict).toMatchObject({ decision: 'deny', ruleId: 'any' });
      expect(verdict.reason).toContain(`the budget look-up failed (it returned ${String(spent)}, not a number)`);
    }
  });

  it('does not read a budget when the when expression already failed', async () => {
    const budget = memoryBudget();
    await policy.evaluate(input('stripe_create_refund', { amount: 9000 }), budget.reader);
    expect(budget.asked).toEqual([]);
  });

  it('exposes the limit of a rule', () => {
    expect(policy.limitOf('refunds')).toEqual({ max: 20000, windowSeconds: 86_400 });
    expect(policy.limitOf('big')).toBeUndefined();
  });
});

describe('explain', () => {
  it('traces every rule considered, in order, and why', async () => {
    const policy = compilePolicy({
      rules: [
        { id: 'payouts', tools: ['stripe_create_payout'], decision: 'deny' },
        { id: 'small', tools: ['stripe_create_refund'], when: 'args.amount <= 5000', decision: 'allow' },
        { id: 'budget', tools: ['stripe_create_refund'], decision: 'allow', limit: { sum: 'args.amount', per: 'day', max: 20000 } },
        { id: 'rest', tools: ['stripe_*'], decision: 'approve' },
        { id: 'never', tools: ['*'], decision: 'deny' },
      ],
    });
    const budget = memoryBudget([{ ruleId: 'budget', amount: 18000, at: new Date('2025-06-01T11:00:00Z') }]);
    const { verdict, trace } = await policy.explain(input('stripe_create_refund', { amount: 6000 }), budget.reader);
    expect(verdict).toMatchObject({ decision: 'approve', ruleId: 'rest' });
    expect(trace).toEqual([
      { ruleId: 'payouts', matched: false, why: 'tool stripe_create_refund does not match stripe_create_payout' },
      { ruleId: 'small', matched: false, why: 'when `args.amount <= 5000` was false' },
      { ruleId: 'budget', matched: false, why: 'over budget: 18000 spent + 6000 > 20000 in the last day' },
      { ruleId: 'rest', matched: true, why: 'tool matches stripe_*: approve' },
    ]);
    expect(await policy.evaluate(input('stripe_create_refund', { amount: 6000 }), budget.reader)).toEqual(verdict);
  });
});

describe('bounds and defaults', () => {
  it('accepts the bounds themselves: 1 and 100 approvers, a limit of 0', async () => {
    for (const count of [1, 100]) {
      // A role left out is the owner.
      const p = compilePolicy({ rules: [{ id: 'r', tools: ['x_*'], decision: 'approve', approvers: { count } }] } as PolicyConfig);
      expect(await p.evaluate(input('x_y'))).toMatchObject({ approvers: { role: 'owner', count } });
    }
    const none = compilePolicy({ rules: [{ id: 'r', tools: ['x_*'], decision: 'allow', limit: { sum: 'args.amount', per: 'day', max: 0 } }] });
    expect(none.limitOf('r')).toEqual({ max: 0, windowSeconds: 86_400 });
  });

  it('reads durations and windows with spaces around them, and names a window of several units in the plural', async () => {
    expect(parseDuration(' 15m ')).toBe(900);
    expect(parseWindow(' 2d ')).toBe(172_800);
    expect(parseWindow('week')).toBe(604_800);
    expect(parseDuration('0s')).toBeNull();
    const p = compilePolicy({
      rules: [
        { id: 'r', tools: ['x_*'], decision: 'approve', expires: ' 15m ' },
        { id: 'b', tools: ['y_*'], decision: 'allow', limit: { sum: 'args.amount', per: ' 2d ', max: 10 } },
      ],
    });
    expect(await p.evaluate(input('x_y'))).toMatchObject({ ruleId: 'r', expiresInSeconds: 900 });
    expect(p.limitOf('b')).toEqual({ max: 10, windowSeconds: 172_800 });
    const { trace } = await p.explain(input('y_z', { amount: 11 }), memoryBudget().reader);
    expect(trace[1]).toEqual({ ruleId: 'b', matched: false, why: 'over budget: 0 spent + 11 > 10 in the last 2 days' });
  });

  it('treats a policy without rules as its default alone', async () => {
    const p = compilePolicy({ default: 'deny' });
    expect(p.ruleIds).toEqual([]);
    expect(await p.evaluate(input('x_y'))).toEqual({ decision: 'deny', ruleId: null, reason: 'no rule matched; the policy default is deny' });
  });
});

describe('version', () => {
  it('is the hash of the normalized config: defaults spelled out change nothing, a rule change does', () => {
    const a = compilePolicy({ rules: [{ id: 'r', tools: ['x_*'], decision: 'approve' }] });
    const b = compilePolicy({ default: 'approve', rules: [{ id: 'r', tools: ['x_*'], decision: 'approve', approvers: { role: 'owner', count: 1 }, expires: '1h' }] });
    const c = compilePolicy({ rules: [{ id: 'r', tools: ['x_*'], decision: 'allow' }] });
    expect(a.version).toMatch(/^[0-9a-f]{64}$/);
    expect(b.version).toBe(a.version);
    expect(c.version).not.toBe(a.version);
  });
});

describe('load errors', () => {
  const rule = { id: 'r', tools: ['github_*'], decision: 'allow' as const };

  it('reports CEL syntax errors with the rule, the path and the position', () => {
    const error = loadError({ rules: [rule, { ...rule, id: 'bad', when: 'args.amount <= ' }] });
    expect(error.code).toBe('policy_error');
    expect(error.message).toMatch(/rule "bad": when `args.amount <=` has a CEL syntax error at character \d+: Unexpected token/);
    expect(error.details).toMatchObject({ path: ['rules', 1, 'when'] });
  });

  it('reports CEL type errors, unknown variables and fields, and non-bool results', () => {
    expect(loadError({ rules: [{ ...rule, when: 'tool + 1 == 2' }] }).message).toContain('CEL type error');
    expect(loadError({ rules: [{ ...rule, when: 'amount > 1' }] }).message).toContain('Unknown variable: amount');
    expect(loadError({ rules: [{ ...rule, when: 'intent.pinz.base == "main"' }] }).message).toContain('pinz');
    expect(loadError({ rules: [{ ...rule, when: '1 + 2' }] }).message).toContain('gives type int, but when must give a bool');
    const sum = loadError({ rules: [{ ...rule, limit: { sum: 'tool', per: 'day', max: 1 } }] });
    expect(sum.message).toContain('limit.sum');
    expect(sum.details).toMatchObject({ path: ['rules', 0, 'limit', 'sum'] });
  });

  it('reports bad globs, decisions, durations, windows, roles, counts and duplicate ids', () => {
    expect(loadError({ rules: [{ ...rule, tools: ['GitHub-*'] }] }).details).toMatchObject({ path: ['rules', 0, 'tools', 0] });
    expect(loadError({ rules: [{ ...rule, tools: [] }] }).message).toContain('non-empty list');
    expect(loadError({ rules: [{ ...rule, decision: 'maybe' as 'allow' }] }).message).toContain('decision must be allow, deny or approve');
    expect(loadError({ rules: [{ ...rule, decision: 'approve', expires: '10 minutes' }] }).message).toContain('"15m"');
    expect(loadError({ rules: [{ ...rule, limit: { sum: 'args.amount', per: 'fortnight', max: 1 } }] }).message).toContain('limit.per');
    expect(loadError({ rules: [{ ...rule, limit: { sum: 'args.amount', per: 'day', max: -1 } }] }).message).toContain('limit.max');
    const role = loadError({ rules: [{ ...rule, decision: 'approve', approvers: { role: 'finanse', count: 1 } }] }, ['finance']);
    expect(role.message).toContain('"finanse" is not a known role; use one of finance, owner');
    expect(loadError({ rules: [{ ...rule, decision: 'approve', approvers: { role: 'owner', count: 0 } }] }).message).toContain('count');
    expect(loadError({ rules: [{ ...rule, approvers: { role: 'owner', count: 1 } }] }).message).toContain('only applies to decision approve');
    const dup = loadError({ rules: [rule, rule] });
    expect(dup.message).toContain('rule id "r" is used twice (rules 1 and 2)');
    expect(dup.details).toMatchObject({ path: ['rules', 1, 'id'] });
    expect(loadError({ rules: [{ ...rule, whne: 'true' } as never] }).message).toContain('unknown key "whne"');
    expect(loadError({ default: 'yes' as 'allow' }).details).toMatchObject({ path: ['default'] });
  });

  it('reports a policy, rule list, rule or tool pattern of the wrong shape, naming where and what to write', () => {
    const cases: [unknown, (string | number)[], string][] = [
      [null, [], 'policy must be a map with `default` and `rules`'],
      [['a rule'], [], 'policy must be a map with `default` and `rules`'],
      [{ rules: { id: 'r' } }, ['rules'], 'policy rules must be a list of rules (each starting with "- id: ...")'],
      [{ rules: [rule, 'deny everything'] }, ['rules', 1], 'rule 2 must be a map with at least id, tools and decision'],
      [{ rules: [rule, ['r']] }, ['rules', 1], 'rule 2 must be a map with at least id, tools and decision'],
      [{ rules: [{ ...rule, id: '  ' }] }, ['rules', 0, 'id'], 'rule 1 needs an id: a short name such as "small-refunds"'],
      [{ rules: [rule, { ...rule, id: 7 }] }, ['rules', 1, 'id'], 'rule 2 needs an id: a short name such as "small-refunds"'],
      [{ rules: [{ ...rule, tools: ['github_*', null] }] }, ['rules', 0, 'tools', 1], 'rule "r": a tool pattern must be a string, got null'],
      [{ rules: [{ ...rule, tools: [['github_*']] }] }, ['rules', 0, 'tools', 0], 'rule "r": a tool pattern must be a string, got a list'],
      [{ rules: [{ ...rule, tools: [7] }] }, ['rules', 0, 'tools', 0], 'rule "r": a tool pattern must be a string, got number'],
      [{ rules: [{ ...rule, tools: [''] }] }, ['rules', 0, 'tools', 0], 'rule "r": a tool pattern is empty'],
      [{ rules: [{ id: 'r', tools: ['github_*'] }] }, ['rules', 0, 'decision'], 'rule "r": decision must be allow, deny or approve, got nothing'],
    ];
    for (const [config, path, message] of cases) {
      const error = loadError(config as PolicyConfig);
      expect(error.code).toBe('policy_error');
      expect(error.message, JSON.stringify(config)).toBe(message);
      expect(error.details).toEqual({ path });
    }
  });

  it('names the key, the rule and what to write for every field of the wrong kind, and where it is', () => {
    const approve = { ...rule, decision: 'approve' as const };
    const limit = { sum: 'args.amount', per: 'day', max: 1 };
    const cases: [unknown, (string | number)[], string][] = [
      ['allow everything', [], 'policy must be a map with `default` and `rules`'],
      [{ rules: [], extra: 1 }, ['extra'], 'policy has an unknown key "extra"; known keys: default, rules'],
      [{ default: 'yes' }, ['default'], 'policy default must be allow, deny or approve, got "yes"'],
      [{ rules: [rule, null] }, ['rules', 1], 'rule 2 must be a map with at least id, tools and decision'],
      [{ rules: [{ ...rule, whne: 'true' }] }, ['rules', 0, 'whne'], 'rule "r" has an unknown key "whne"; known keys: id, tools, when, decision, approvers, expires, reason, limit'],
      [{ rules: [{ ...rule, tools: [] }] }, ['rules', 0, 'tools'], 'rule "r": tools must be a non-empty list of tool names or globs, e.g. [github_get_*]'],
      [{ rules: [{ ...rule, tools: 'github_*' }] }, ['rules', 0, 'tools'], 'rule "r": tools must be a non-empty list of tool names or globs, e.g. [github_get_*]'],
      [
        { rules: [{ ...rule, tools: ['GitHub-*'] }] },
        ['rules', 0, 'tools', 0],
        'rule "r": tool pattern "GitHub-*" may only hold lowercase letters, digits, "_" and the wildcards "*" and "?" (tool names look like github_merge_pull_request; write e.g. "github_*")',
      ],
      [{ rules: [{ ...rule, approvers: { role: 'owner' } }] }, ['rules', 0, 'approvers'], 'rule "r": approvers only applies to decision approve; remove it or change the decision'],
      [{ rules: [{ ...rule, decision: 'deny', expires: '1h' }] }, ['rules', 0, 'expires'], 'rule "r": expires only applies to decision approve; remove it or change the decision'],
      [{ rules: [{ ...rule, reason: 5 }] }, ['rules', 0, 'reason'], 'rule "r": reason must be a string'],
      [
        { rules: [{ ...approve, expires: '10 minutes' }] },
        ['rules', 0, 'expires'],
        'rule "r": expires "10 minutes" is not a duration; write a whole number followed by s, m, h, d or w, e.g. "15m", "2h", "1d"',
      ],
      [{ rules: [{ ...approve, approvers: 'finance' }] }, ['rules', 0, 'approvers'], 'rule "r": approvers must be a map like {role: finance, count: 1}'],
      [{ rules: [{ ...approve, approvers: null }] }, ['rules', 0, 'approvers'], 'rule "r": approvers must be a map like {role: finance, count: 1}'],
      [{ rules: [{ ...approve, approvers: { cnt: 2 } }] }, ['rules', 0, 'approvers', 'cnt'], 'rule "r": approvers has an unknown key "cnt"; known keys: role, count'],
      [
        { rules: [{ ...approve, approvers: { role: 'finance' } }] },
        ['rules', 0, 'approvers', 'role'],
        'rule "r": approvers role "finance" is not a known role; use one of owner, or add it under roles: in the config',
      ],
      ...[0, 101, 1.5, '2'].map((count): [unknown, (string | number)[], string] => [
        { rules: [{ ...approve, approvers: { count } }] },
        ['rules', 0, 'approvers', 'count'],
        `rule "r": approvers count must be a whole number from 1 to 100, got ${JSON.stringify(count)}`,
      ]),
      [{ rules: [{ ...rule, limit: 'day' }] }, ['rules', 0, 'limit'], 'rule "r": limit must be a map like {sum: args.amount, per: day, max: 20000}'],
      [{ rules: [{ ...rule, limit: { ...limit, key: 'agent' } }] }, ['rules', 0, 'limit', 'key'], 'rule "r": limit has an unknown key "key"; known keys: sum, per, max'],
      [
        { rules: [{ ...rule, limit: { ...limit, per: 'fortnight' } }] },
        ['rules', 0, 'limit', 'per'],
        'rule "r": limit.per "fortnight"; write hour, day, week, or a duration such as "24h" or "7d"',
      ],
      [
        { rules: [{ ...rule, limit: { sum: 'args.amount', max: 1 } }] },
        ['rules', 0, 'limit', 'per'],
        'rule "r": limit.per is missing; write hour, day, week, or a duration such as "24h" or "7d"',
      ],
      ...[-1, 1.5, '5'].map((max): [unknown, (string | number)[], string] => [
        { rules: [{ ...rule, limit: { ...limit, max } }] },
        ['rules', 0, 'limit', 'max'],
        `rule "r": limit.max must be a whole number of at least 0 (same unit as sum, e.g. cents), got ${JSON.stringify(max)}`,
      ]),
      [
        { rules: [{ ...rule, limit: { sum: 'args.amount', per: 'day' } }] },
        ['rules', 0, 'limit', 'max'],
        'rule "r": limit.max must be a whole number of at least 0 (same unit as sum, e.g. cents), got nothing',
      ],
    ];
    for (const [config, path, message] of cases) {
      const error = loadError(config as PolicyConfig);
      expect(error.message, JSON.stringify(config)).toBe(message);
      expect(error.details, JSON.stringify(config)).toEqual({ path });
    }
  });

  it('knows the role owner without any configured role, and only the configured ones besides', () => {
    const approveBy = (role: string): PolicyConfig => ({ rules: [{ id: 'r', tools: ['x_*'], decision: 'approve', approvers: { role, count: 1 } }] });
    expect(compilePolicy(approveBy('owner')).ruleIds).toEqual(['r']);
    expect(() => compilePolicy(approveBy('finance'))).toThrow('use one of owner, or add it under roles');
    expect(compilePolicy(approveBy('finance'), { roles: ['finance'] }).ruleIds).toEqual(['r']);
  });

  it('gives a CEL syntax error the offset its message names, for the loader to turn into a line', () => {
    const error = loadError({ rules: [{ ...rule, when: 'args.amount <= ' }] });
    const at = /at character (\d+)/.exec(error.message);
    expect(at).not.toBeNull();
    expect(error.details).toEqual({ path: ['rules', 0, 'when'], offset: Number(at![1]) - 1 });
  });

  it('refuses a CEL expression that is missing, blank or not a string', () => {
    for (const when of ['', '   ', 42]) {
      expect(loadError({ rules: [{ ...rule, when } as never] }).message).toBe('rule "r": when must be a CEL expression in a string, e.g. args.amount <= 5000');
    }
    const sum = loadError({ rules: [{ ...rule, limit: { per: 'day', max: 1 } } as never] });
    expect(sum.message).toBe('rule "r": limit.sum must be a CEL expression in a string, e.g. args.amount');
  });

  it('names the kind of CEL error, quotes a multi-line expression on one line, and never says "undefined"', () => {
    expect(loadError({ rules: [{ ...rule, when: 'args.a ==' }] }).message).toMatch(/has a CEL syntax error at character \d+: .*; fix the expression syntax \(CEL: https:\/\/cel\.dev\)$/);
    const multiline = loadError({ rules: [{ ...rule, when: 'args.a &&  \n   tool + 1' }] }).message;
    expect(multiline).toMatch(/^rule "r": when `args\.a && tool \+ 1` has a CEL type error at character \d+: /);
    // cel-js says "got 'undefined'" for a type it cannot name; the message says what that means instead.
    const unknownType = loadError({ rules: [{ ...rule, when: '[].exists(x, x)' }] }).message;
    expect(unknownType).toContain('(a value of unknown type)');
    expect(unknownType).not.toMatch(/\bundefined\b/);
  });

  it('quotes only the first line of an error that is not a CEL one (cel-js errors carry a one-line summary)', () => {
    expect(celMessage(new RangeError('Maximum call stack size exceeded\n    at walk (evaluate.ts:1:1)'))).toBe('Maximum call stack size exceeded');
    expect(celMessage('plain text\nmore')).toBe('plain text');
    expect(celMessage({ summary: 'no such key: amount', message: 'no such key: amount\n> 1 | args.amount' })).toBe('no such key: amount');
  });

  it('checks field names of agent and, per tool, of args, at load', () => {
    expect(loadError({ rules: [{ ...rule, when: 'agent.nmae == "helper"' }] }).message).toContain('nmae');
    const typed = checkEnvironment({ amount: 'int' });
    expect(typed.check('args.amount > 5').valid).toBe(true);
    expect(typed.check('args.amout > 5').valid).toBe(false);
    expect(typed.check('args.amount == "5"').valid).toBe(false);
    // Without a tool's argument types, args is a plain map: any key passes the check.
    const plain = checkEnvironment();
    expect(plain.check('args.amout > 5').valid).toBe(true);
    expect(plain.check('agent.owner == "o@example.com" && agent.name == agent.id').valid).toBe(true);
    expect(plain.check('agent.nmae == "helper"').valid).toBe(false);
    expect(plain.check('intent.summary == "x" && intent.consequence == "y" && intent.reversible && size(intent.fields) == 0 && size(intent.pins) == 0').valid).toBe(true);
    expect(plain.check('intent.reversible == "yes"').valid).toBe(false);
  });

  it('refuses at load an expression past 1,000 nodes or 100 levels, as the evaluator would', () => {
    const long = Array.from({ length: 600 }, () => 'true').join(' && ');
    const deep = `${'('.repeat(150)}true${')'.repeat(150)}`;
    expect(checkEnvironment().check(long).error?.message).toContain('Exceeded maxAstNodes (1000)');
    expect(checkEnvironment({ amount: 'int' }).check(deep).error?.message).toContain('Exceeded maxDepth (100)');
    const error = loadError({ rules: [{ ...rule, when: long }] });
    expect(error.message).toMatch(/^rule "r": when `true && true .*` has a CEL syntax error at character 1: Exceeded maxAstNodes \(1000\)/);
    expect(error.details).toEqual({ path: ['rules', 0, 'when'], offset: 0 });
  });

  it('accepts an expression whose type is known only at run time (dyn, or a CEL type parameter), and evaluates it then', async () => {
    const policy = compilePolicy({ rules: [{ id: 'lookup', tools: ['x_*'], when: '{}[args.key]', decision: 'allow' }] });
    // An empty map has no key: the expression errors at run time, and errors fail closed.
    expect(await policy.evaluate(input('x_y', { key: 'k' }))).toMatchObject({ decision: 'deny', ruleId: 'lookup' });
  });
});
