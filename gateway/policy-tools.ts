import { checkEnvironment, type JsonObject, type PolicyConfig } from '../kernel/index.ts';
import { closest } from './config.ts';

/** A tool glob as the policy engine matches it (kernel/policy/compile.ts): `*` any run, `?` one character. */
const globRegExp = (glob: string): RegExp => new RegExp(`^${glob.replaceAll('*', '.*').replaceAll('?', '.')}$`);

/**
 * Tool names and globs in a policy that match no tool. A misspelt name (`github_merge_pr`) is not an error for the
 * policy engine: the rule just never matches, and merges silently fall to `default`. So the server refuses to start
 * with one, and `policy check` reports it, each with a "did you mean". `offered` is what the connectors offer;
 * `mcpServers` are configured downstream MCP servers, whose tools (`<server>_...`) are known only while they run, so
 * any name or glob under their prefix is accepted.
 */
export function policyToolProblems(policy: PolicyConfig, offered: readonly string[], mcpServers: readonly string[]): string[] {
  const problems: string[] = [];
  const rules = Array.isArray(policy?.rules) ? policy.rules : [];
  rules.forEach((rule, i) => {
    for (const pattern of Array.isArray(rule?.tools) ? rule.tools : []) {
      if (typeof pattern !== 'string') continue;
      const literal = pattern.split(/[*?]/)[0]!;
      if (mcpServers.some((server) => literal.startsWith(`${server}_`) || (pattern !== literal && `${server}_`.startsWith(literal)))) continue;
      const where = `policy.rules[${i}] (rule "${rule.id}")`;
      if (pattern === literal) {
        if (offered.includes(pattern)) continue;
        problems.push(`${where}: no tool is named "${pattern}", so this rule would never match; ${suggest(pattern, offered)}`);
      } else {
        const glob = globRegExp(pattern);
        if (offered.some((name) => glob.test(name))) continue;
        // A glob is most often wrong in its connector's name: suggest the pattern with the nearest one.
        const connectors = [...new Set(offered.map((name) => name.split('_')[0]!))];
        const [head, ...tail] = pattern.split('_');
        const near = tail.length ? closest(head!, connectors) : null;
        const hint = near ? `did you mean "${[near, ...tail].join('_')}"?` : `tool names start with ${connectors.map((c) => `${c}_*`).join(', ')}`;
        problems.push(`${where}: tool pattern "${pattern}" matches no tool, so this rule would never match; ${hint}`);
      }
    }
  });
  return problems;
}

/** A "did you mean": the nearest name, else the names sharing the longest start with `word`, else the prefixes in use. */
function suggest(word: string, offered: readonly string[]): string {
  const near = closest(word, offered);
  if (near) return `did you mean "${near}"?`;
  const shared = (name: string) => {
    let n = 0;
    while (n < word.length && n < name.length && word[n] === name[n]) n++;
    return n;
  };
  const best = Math.max(0, ...offered.map(shared));
  const alike = best >= 4 ? offered.filter((name) => shared(name) === best).slice(0, 3) : [];
  if (alike.length) return `did you mean ${alike.map((name) => `"${name}"`).join(' or ')}?`;
  const prefixes = [...new Set(offered.map((name) => `${name.split('_')[0]}_*`))];
  return `tool names start with ${prefixes.join(', ')}`;
}

/** A tool as the type check needs it: its name and its arguments' CEL types (undefined: not known, not checked). */
export interface TypedTool {
  name: string;
  args: Readonly<Record<string, string>> | undefined;
}

const CEL_TYPES: Record<string, string> = { integer: 'int', string: 'string', boolean: 'bool', array: 'list', object: 'map' };

/**
 * The CEL types of a tool's arguments, from its JSON Schema: only for a closed object schema (additionalProperties
 * false, as every built-in tool has), since an open one may carry keys no schema names. `number` stays dyn: a JSON
 * number is a CEL int or double depending on its value.
 */
export function argTypes(schema: JsonObject): Record<string, string> | undefined {
  const properties = schema.properties;
  if (schema.type !== 'object' || schema.additionalProperties !== false || !properties || typeof properties !== 'object' || Array.isArray(properties)) return undefined;
  return Object.fromEntries(
    Object.entries(properties).map(([key, value]) => {
      const type = value && typeof value === 'object' && !Array.isArray(value) ? value.type : undefined;
      return [key, (typeof type === 'string' && CEL_TYPES[type]) || 'dyn'];
    }),
  );
}

/**
 * Rules whose `when` or `limit.sum` does not type-check against a tool it covers: `args.amount <= "5000"` (int
 * against string) or `args.amout` (no such argument) passes a check with `args` as a plain map, then fails on every
 * request at run time, which denies them all. Each expression is checked once per tool its rule's globs match.
 */
export function policyTypeProblems(policy: PolicyConfig, tools: readonly TypedTool[]): string[] {
  const problems: string[] = [];
  const rules = Array.isArray(policy?.rules) ? policy.rules : [];
  rules.forEach((rule, i) => {
    const globs = (Array.isArray(rule?.tools) ? rule.tools : []).filter((t): t is string => typeof t === 'string').map(globRegExp);
    const expressions = [['when', rule.when], ['limit.sum', rule.limit?.sum]].filter((e): e is [string, string] => typeof e[1] === 'string');
    for (const [label, source] of expressions) {
      const failing = new Map<string, string[]>();
      for (const tool of tools.filter((t) => globs.some((glob) => glob.test(t.name)))) {
        if (!tool.args) continue;
        const { valid, error } = checkEnvironment({ ...tool.args }).check(source);
        if (valid) continue;
        const message = (error?.message ?? 'invalid').split('\n')[0]!;
        failing.set(message, [...(failing.get(message) ?? []), tool.name]);
      }
      for (const [message, names] of failing) {
        const fix = /No such key/.test(message) ? `this tool has no such argument (its arguments: ${Object.keys(tools.find((t) => t.name === names[0])!.args ?? {}).join(', ')}); use has(args.x) to test for one` : 'compare values of the same type, e.g. args.amount <= 5000 (an int, no quotes)';
        problems.push(`policy.rules[${i}] (rule "${rule.id}"): ${label} \`${source.trim()}\` fails for ${names.join(', ')}: ${message}; ${fix}`);
      }
    }
  });
  return problems;
}
