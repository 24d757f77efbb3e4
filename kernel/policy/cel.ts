import { Environment } from '@marcbachmann/cel-js';
import type { Json } from '../types.ts';
import type { PolicyInput } from './types.ts';

/**
 * CEL for policy. Two environments on purpose: the checking one declares the exact shape of `intent` and `agent`,
 * so a typo like `intent.pinz` fails at load; the evaluating one treats them as plain maps, because converting
 * inputs into typed objects costs microseconds per request, and the checked expression needs no such conversion.
 */
// A policy expression is a line or two; 1,000 nodes bound the evaluator's recursion, so a long `&&` chain or `!!!…`
// can neither overflow the stack nor decide differently at a different stack depth (found by test/fuzz).
const limits = { maxAstNodes: 1000, maxDepth: 100 };
/** The checking environment; with `args`, the argument types of one tool (the gateway checks each rule per tool). */
export const checkEnvironment = (args?: Record<string, string>) => new Environment({ limits }).registerVariable('tool', 'string')
  .registerVariable(args ? { name: 'args', schema: args } : { name: 'args', type: 'map' })
  .registerVariable({ name: 'intent', schema: { summary: 'string', consequence: 'string', reversible: 'bool', fields: 'list<map>', pins: 'map' } })
  .registerVariable({ name: 'agent', schema: { id: 'string', name: 'string', owner: 'string' } })
  .registerVariable('now', 'google.protobuf.Timestamp');
const checkEnv = checkEnvironment();
const evalEnv = new Environment({ limits }).registerVariable('tool', 'string').registerVariable('args', 'map').registerVariable('intent', 'map').registerVariable('agent', 'map').registerVariable('now', 'google.protobuf.Timestamp');

export type CelContext = ReturnType<typeof celContext>;
export type Expression = (context: CelContext) => unknown;
const ROLES = {
  when: { label: 'when', example: 'args.amount <= 5000', types: ['bool', 'dyn'], expected: 'a bool (true or false)' },
  sum: { label: 'limit.sum', example: 'args.amount', types: ['int', 'uint', 'dyn'], expected: 'an int (an amount in minor units)' },
};
const VARIABLES = 'variables are tool (string), args (map), intent (summary, consequence, reversible, fields, pins), agent (id, name, owner) and now (timestamp)';

/** The first line of a cel-js error message: the rest is a source excerpt we render ourselves. */
export function celMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'summary' in error && typeof error.summary === 'string') return error.summary;
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

/** Parses and type-checks one expression, or throws `fail` with what is wrong and how to fix it. */
export function compileExpression(source: unknown, role: keyof typeof ROLES, fail: (message: string, offset?: number) => Error) {
  const { label, example, types, expected } = ROLES[role];
  if (typeof source !== 'string' || source.trim() === '') throw fail(`${label} must be a CEL expression in a string, e.g. ${example}`);
  const { valid, error, type = 'dyn' } = checkEnv.check(source);
  const shown = `${label} \`${source.trim().replace(/\s*\n\s*/g, ' ')}\``;
  if (!valid) {
    const [kind, fix] = error?.name === 'ParseError' ? ['syntax', 'fix the expression syntax (CEL: https://cel.dev)'] : ['type', VARIABLES];
    const offset = error?.range?.start;
    throw fail(`${shown} has a CEL ${kind} error${offset === undefined ? '' : ` at character ${offset + 1}`}: ${celMessage(error).replace(/\bundefined\b/g, '(a value of unknown type)')}; ${fix}`, offset);
  }
  // cel-js names a type it cannot resolve by its type parameter (V): like dyn, it is known only at run time.
  if (!types.includes(type) && !/^[A-Z]$/.test(type)) throw fail(`${shown} has a CEL type error: it gives type ${type}, but ${role} must give ${expected}; ${VARIABLES}`);
  return { source, run: evalEnv.parse(source) };
}

/** JSON with integers as BigInt, as CEL ints are (so `args.amount + 1 <= 5000` works); fractions stay doubles. */
function toCel(value: Json | undefined): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  // fromEntries defines own properties, so a key named "__proto__" stays data and never becomes a prototype.
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).map((key) => [key, toCel(value[key])]));
  return value;
}

/** What expressions see of one request. Missing intent parts get neutral values so expressions can use has(). */
export function celContext({ tool, args, intent, agent }: PolicyInput, now: Date) {
  const { summary, consequence, reversible, fields, pins } = intent ?? {};
  return {
    tool,
    args: toCel(args),
    intent: {
      summary: summary ?? tool, consequence: consequence ?? 'unknown', reversible: reversible ?? false,
      fields: toCel((fields ?? []) as unknown as Json), pins: toCel(pins ?? {}),
    },
    agent: { id: agent.id, name: agent.name, owner: agent.owner },
    now,
  };
}
