import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError, compilePolicy, type BudgetReader, type CompiledPolicy, type JsonObject } from '../../kernel/index.ts';
import { runs, timeout } from './settings.ts';

/**
 * The policy compiler and evaluator under arbitrary CEL: an expression compiles or is refused with a `policy_error`
 * that names the rule; a compiled policy answers every request with allow, deny or approve (errors at run time deny,
 * fail closed), and nothing throws past them.
 */

const atom = fc.oneof(
  fc.constantFrom('tool', 'args', 'intent', 'agent', 'now', 'args.amount', 'args.x.y', 'intent.fields', 'intent.pins', 'agent.owner', 'intent.summary', 'args["k"]', 'args[0]'),
  fc.constantFrom('1', '-1', '0u', '1.5', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '1e308', '0x1F', '"s"', "'s'", 'r"\\d"', 'b"x"', 'true', 'null', '[]', '{}', '[1, "a"]', '{"a": 1}'),
  fc.constantFrom('timestamp("2026-01-01T00:00:00Z")', 'duration("1h")', 'duration("x")', 'timestamp("nope")', 'dyn(1)', 'type(1)'),
  fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
  fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/),
);
const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
  e: fc.oneof(
    { depthSize: 'small' },
    atom,
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%', '==', '!=', '<', '<=', '>', '>=', '&&', '||', ' in '), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.constantFrom('!', '-', '!!', '--'), tie('e')).map(([op, a]) => `${op}${a}`),
    tie('e').map((a) => `(${a})`),
    fc.tuple(tie('e'), tie('e'), tie('e')).map(([a, b, c]) => `${a} ? ${b} : ${c}`),
    fc.tuple(fc.constantFrom('has', 'size', 'int', 'uint', 'double', 'string', 'bytes', 'bool', 'matches', 'timestamp', 'duration', 'exists', 'nope'), fc.array(tie('e'), { maxLength: 2 })).map(([f, a]) => `${f}(${a.join(', ')})`),
    fc.tuple(tie('e'), fc.constantFrom('startsWith', 'endsWith', 'contains', 'matches', 'size', 'getHours', 'exists', 'all', 'map', 'filter', 'exists_one'), fc.array(tie('e'), { maxLength: 2 })).map(([t, m, a]) => `${t}.${m}(${a.join(', ')})`),
    fc.tuple(tie('e'), fc.constantFrom('all', 'exists', 'map', 'filter'), tie('e')).map(([t, m, body]) => `${t}.${m}(x, ${body})`),
    fc.tuple(tie('e'), tie('e')).map(([a, b]) => `${a}[${b}]`),
    fc.tuple(tie('e'), fc.stringMatching(/^[a-z_]{1,5}$/)).map(([a, f]) => `${a}.${f}`),
    fc.tuple(tie('e'), fc.string({ unit: 'binary', maxLength: 2 })).map(([a, junk]) => `${a}${junk}`),
  ),
})).e;
/** Deep nesting, long chains and huge literals: the shapes that blow parser stacks. */
const extreme = fc.oneof(
  fc.nat({ max: 3000 }).map((n) => `${'('.repeat(n)}true${')'.repeat(n)}`),
  fc.nat({ max: 3000 }).map((n) => `${'!'.repeat(n)}true`),
  fc.nat({ max: 3000 }).map((n) => `${'-'.repeat(n)}1 < 0`),
  fc.nat({ max: 2000 }).map((n) => Array(n + 1).fill('args.a == 1').join(' && ')),
  fc.nat({ max: 2000 }).map((n) => `${'['.repeat(n)}1${']'.repeat(n)} == []`),
  fc.nat({ max: 2000 }).map((n) => `args${'.a'.repeat(n)} == 1`),
  fc.nat({ max: 100_000 }).map((n) => `"${'x'.repeat(n)}" == tool`),
);

const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double(),
    fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -0, 1e308, 2 ** 64),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('amount', 'a', 'x', 'y', 'k', '__proto__', 'constructor'), tie('v'), { maxKeys: 3 }),
  ),
})).v;
// Arguments reach policy through /mcp, which refuses nesting past 64 levels; 1,000 keeps the property about policy.
const deepArgs = fc.nat({ max: 1000 }).map((n) => {
  let value: unknown = 1;
  for (let i = 0; i < n; i++) value = { a: value };
  return value as JsonObject;
});

const budgets: BudgetReader = { spent: async () => 0 };
const agent = { id: 'agt_1', name: 'a', owner: 'o@example.com' };

/** Compiles or refuses with a policy_error; anything else fails the property. */
function compile(when: string, sum: string | null): CompiledPolicy | null {
  try {
    return compilePolicy({
      rules: [
        { id: 'fuzzed', tools: ['*'], when, decision: 'allow', ...(sum ? { limit: { sum, per: 'day', max: 100 } } : {}) },
        { id: 'rest', tools: ['*'], decision: 'deny' },
      ],
    });
  } catch (error) {
    if (!(error instanceof KernelError) || error.code !== 'policy_error') throw new Error(`compile threw ${(error as Error)?.stack ?? String(error)} for ${when}`);
    expect(error.message).toMatch(/^rule "fuzzed": /);
    expect(error.message).not.toMatch(/\n\s+at |undefined|\[object Object\]/);
    return null;
  }
}

async function decide(policy: CompiledPolicy, args: unknown): Promise<void> {
  const input = { tool: 'stripe_create_refund', args: args as JsonObject, agent, intent: { summary: 's', consequence: 'moves-money' as const, reversible: false, fields: [], pins: {}, sandbox: true } };
  const verdict = await policy.evaluate(input, budgets);
  expect(['allow', 'deny', 'approve']).toContain(verdict.decision);
  expect((await policy.explain(input, budgets)).verdict).toEqual(verdict);
}

describe('policy fuzz', () => {
  it('arbitrary CEL compiles or is a policy_error naming the rule; a compiled rule always decides', async () => {
    await fc.assert(
      fc.asyncProperty(expr, fc.option(expr, { freq: 4 }), fc.dictionary(fc.constantFrom('amount', 'a', 'x', 'k'), json, { maxKeys: 3 }), async (when, sum, args) => {
        const policy = compile(when, sum);
        if (policy) await decide(policy, args);
      }),
      runs(200),
    );
  }, timeout(200, 10));

  it('deep nesting, long chains and huge literals: refused or decided, never a stack overflow escaping', async () => {
    await fc.assert(
      fc.asyncProperty(extreme, fc.oneof(json, deepArgs), async (when, args) => {
        const policy = compile(when, null);
        if (policy) await decide(policy, { a: args as JsonObject });
      }),
      runs(15),
    );
  }, timeout(15, 400));
});
