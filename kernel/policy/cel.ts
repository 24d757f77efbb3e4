import { Environment } from '@marcbachmann/cel-js';
import type { Json } from '../types.ts';
import type { PolicyInput } from './types.ts';

/**
 * CEL for policy. Two environments on purpose: the checking one declares the exact shape of `intent` and `agent`,
 * so a typo like `intent.pinz` fails at load; the evaluating one treats them as plain maps, because converting
 * inputs into typed objects costs microseconds per request, and the checked expression needs no such conversion.
 */

const checkEnv = new Environment()
  .registerVariable('tool', 'string')
  .registerVariable('args', 'map')
  .registerVariable({
    name: 'intent',
    schema: { summary: 'string', consequence: 'string', reversible: 'bool', fields: 'list<map>', pins: 'map' },
  })
  .registerVariable({ name: 'agent', schema: { id: 'string', name: 'string', owner: 'string' } })
  .registerVariable('now', 'google.protobuf.Timestamp');

const evalEnv = new Environment()
  .registerVariable('tool', 'string')
  .registerVariable('args', 'map')
  .registerVariable('intent', 'map')
  .registerVariable('agent', 'map')
  .registerVariable('now', 'google.protobuf.Timestamp');

/** The values an expression sees. Integers are BigInt, as CEL ints are, so `args.amount + 1 <= 5000` works. */
export interface CelContext {
  tool: string;
  args: unknown;
  intent: unknown;
  agent: { id: string; name: string; owner: string };
  now: Date;
}

export type Expression = (context: CelContext) => unknown;
export type ExpressionRole = 'when' | 'sum';

export interface ExpressionProblem {
  kind: 'syntax' | 'type';
  /** One line, without the library's source excerpt. */
  message: string;
  /** Character offset inside the expression, when the library knows it. */
  offset?: number;
}

const ACCEPTED: Record<ExpressionRole, readonly string[]> = { when: ['bool', 'dyn'], sum: ['int', 'uint', 'dyn'] };
const EXPECTED: Record<ExpressionRole, string> = { when: 'a bool (true or false)', sum: 'an int (an amount in minor units)' };

/** The first line of a cel-js error message: the rest is a source excerpt we render ourselves. */
export function celMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'summary' in error && typeof error.summary === 'string') return error.summary;
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

function offsetOf(error: unknown): number | undefined {
  if (error && typeof error === 'object' && 'range' in error) {
    const range = error.range as { start?: unknown } | undefined;
    if (range && typeof range.start === 'number') return range.start;
  }
  return undefined;
}

/** Parses and type-checks one expression; returns the evaluator or what is wrong with it. */
export function compileExpression(
  source: string,
  role: ExpressionRole,
): { ok: true; run: Expression } | { ok: false; problem: ExpressionProblem } {
  const checked = checkEnv.check(source);
  if (!checked.valid) {
    const kind = checked.error?.name === 'ParseError' ? 'syntax' : 'type';
    return { ok: false, problem: { kind, message: celMessage(checked.error), offset: offsetOf(checked.error) } };
  }
  const type = checked.type ?? 'dyn';
  if (!ACCEPTED[role].includes(type)) {
    return { ok: false, problem: { kind: 'type', message: `it gives type ${type}, but ${role} must give ${EXPECTED[role]}` } };
  }
  const parsed = evalEnv.parse(source);
  return { ok: true, run: (context) => parsed(context) as unknown };
}

/** JSON with integers as BigInt, the way CEL sees them; fractions stay doubles. */
export function toCel(value: Json | undefined): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') {
    // fromEntries defines own properties, so a key named "__proto__" stays data and never becomes a prototype.
    return Object.fromEntries(Object.keys(value).map((key) => [key, toCel(value[key])]));
  }
  return value;
}

/** Builds the CEL context for one request. Missing intent parts get neutral values so expressions can use has(). */
export function celContext(input: PolicyInput, now: Date): CelContext {
  const intent = input.intent ?? {};
  return {
    tool: input.tool,
    args: toCel(input.args),
    intent: {
      summary: intent.summary ?? input.tool,
      consequence: intent.consequence ?? 'unknown',
      reversible: intent.reversible ?? false,
      fields: toCel((intent.fields ?? []) as unknown as Json),
      pins: toCel(intent.pins ?? {}),
    },
    agent: { id: input.agent.id, name: input.agent.name, owner: input.agent.owner },
    now,
  };
}
