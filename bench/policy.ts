import { compilePolicy, type PolicyInput, type RuleConfig } from '../kernel/index.ts';
import type { BenchResult } from './types.ts';

/**
 * Policy evaluation time at 10, 100 and 1,000 rules, the matching rule last, against a hand-written JS predicate
 * chain of the same size in the same process: the floor for "check N conditions in order".
 *
 * Two shapes. "indexed": rules name different tools (exact names and prefix globs), as real policies do; the tool
 * index means a request only evaluates the rules that can match it. "all-candidates": every rule matches the tool by
 * glob and has a false `when`, so every rule's CEL runs: the worst case, reported so nobody mistakes the first for it.
 */

const SIZES = [10, 100, 1000];
const agent = { id: 'agt_bench', name: 'bench', owner: 'owner@example.com' };
const input: PolicyInput = {
  tool: 'stripe_create_refund',
  args: { charge: 'ch_1', amount: 3000 },
  agent,
  intent: { pins: { currency: 'USD' } },
  now: new Date('2025-06-01T12:00:00Z'),
};

function percentiles(samples: number[]): { p50: number; p99: number } {
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length * 0.5)]!, p99: samples[Math.floor(samples.length * 0.99)]! };
}

/** Per-call microseconds (p50, p99) of an async or sync function, after warm-up. */
async function measure(iterations: number, fn: () => unknown): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(iterations, 2000); i++) await fn();
  const samples: number[] = new Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  return percentiles(samples);
}

function indexedRules(n: number): RuleConfig[] {
  const rules: RuleConfig[] = [];
  for (let i = 0; i < n - 1; i++) {
    const tools = i % 2 === 0 ? [`svc${i}_create_thing`] : [`svc${i}_get_*`, `svc${i}_list_*`];
    rules.push({ id: `r${i}`, tools, when: `args.amount <= ${i}`, decision: i % 3 === 0 ? 'deny' : 'allow' });
  }
  rules.push({ id: 'target', tools: ['stripe_create_refund'], when: 'args.amount <= 5000 && intent.pins.currency == "USD"', decision: 'allow' });
  return rules;
}

function allCandidateRules(n: number): RuleConfig[] {
  const rules: RuleConfig[] = [];
  for (let i = 0; i < n - 1; i++) rules.push({ id: `r${i}`, tools: ['stripe_*'], when: `args.amount > ${100_000 + i}`, decision: 'deny' });
  rules.push({ id: 'target', tools: ['stripe_create_refund'], when: 'args.amount <= 5000 && intent.pins.currency == "USD"', decision: 'allow' });
  return rules;
}

type Predicate = (request: PolicyInput) => boolean;

/** The baseline: the same conditions as plain closures, tried in order, first true wins. */
function predicateChain(n: number, allCandidates: boolean): Predicate[] {
  const chain: Predicate[] = [];
  for (let i = 0; i < n - 1; i++) {
    const name = `svc${i}_create_thing`;
    const limit = 100_000 + i;
    chain.push(
      allCandidates
        ? (r) => r.tool.startsWith('stripe_') && (r.args.amount as number) > limit
        : (r) => r.tool === name && (r.args.amount as number) <= i,
    );
  }
  chain.push((r) => r.tool === 'stripe_create_refund' && (r.args.amount as number) <= 5000 && r.intent?.pins?.currency === 'USD');
  return chain;
}

function firstMatch(chain: Predicate[], request: PolicyInput): number {
  for (let i = 0; i < chain.length; i++) if (chain[i]!(request)) return i;
  return -1;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const [shape, build] of [
    ['indexed', indexedRules],
    ['all-candidates', allCandidateRules],
  ] as const) {
    for (const n of SIZES) {
      const policy = compilePolicy({ rules: build(n) });
      const check = await policy.evaluate(input);
      if (check.ruleId !== 'target') throw new Error(`bench policy (${shape}, ${n}) decided by ${check.ruleId}, expected target`);
      const chain = predicateChain(n, shape === 'all-candidates');
      if (firstMatch(chain, input) !== n - 1) throw new Error('baseline chain did not match its last predicate');
      const iterations = shape === 'indexed' ? 20_000 : n >= 1000 ? 500 : 5000;
      const ours = await measure(iterations, () => policy.evaluate(input));
      const base = await measure(iterations, () => firstMatch(chain, input));
      const target = shape === 'indexed' && n === 1000 ? 'p50 < 10 us' : undefined;
      for (const q of ['p50', 'p99'] as const) {
        results.push({
          name: `policy evaluate ${q}, ${n} rules, ${shape}, match last`,
          value: Number(ours[q].toFixed(3)),
          unit: 'us',
          baseline: { name: `JS predicate chain ${q}, ${n} predicates`, value: Number(base[q].toFixed(3)), unit: 'us' },
          ...(q === 'p50' && target ? { target, goal: { max: 10 } } : {}),
        });
      }
    }
  }
  return results;
}

// Run directly: npx tsx bench/policy.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of await run()) console.log(JSON.stringify(result));
}
