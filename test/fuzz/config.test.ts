import fc from 'fast-check';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../gateway/config.ts';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';
import { runs, timeout } from './settings.ts';

/**
 * The config loader under arbitrary YAML: a config it accepts, or a ConfigError whose every line reads
 * `file:line:column: what is wrong` about a line that exists, never another exception, a stack trace or "undefined".
 */

const FILE = 'fuzz.yaml';
const KEYS = ['publicUrl', 'holdSeconds', 'leaseSeconds', 'connectors', 'roles', 'policy', 'notify', 'audit', 'oauth', 'limits', 'allowedHosts', 'rateLimit', 'trustProxy'];
const INNER = ['default', 'rules', 'id', 'tools', 'when', 'decision', 'approvers', 'role', 'count', 'expires', 'reason', 'limit', 'sum', 'per', 'max', 'github', 'stripe', 'mcp', 'aws', 'servers', 'command', 'url', 'webhooks', 'webPush', 'witnesses', 'issuer', 'audience', 'token', 'region', 'webBodyBytes', '__proto__', 'constructor', 'toString'];
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('env:GITHUB_TOKEN', 'env:', 'env:1X', 'https://cs.example.com', 'http://[::1]:80', 'args.amount <= 5000', 'args.', 'has(', '*', 'approve', 'allow', '15m', '0s', '1e309', '.inf', '~', 'a@b', '!!binary aGk=', '&a', '*a'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const tree: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...INNER), fc.string({ maxLength: 6 })), tie('node'), { maxKeys: 4 }),
  ),
})).node;
/** Configs shaped like the real one, with arbitrary values where settings go. */
const shaped = fc.dictionary(fc.constantFrom(...KEYS), tree, { maxKeys: 6 }).map((value) => stringify(value));

/** The example config with a few lines changed: a deleted line, an indent shifted, a character typed in. */
const lines = EXAMPLE_CONFIG.split('\n');
const mutated = fc
  .array(fc.tuple(fc.nat(lines.length - 1), fc.nat(3), fc.string({ unit: 'binary', maxLength: 3 })), { minLength: 1, maxLength: 4 })
  .map((changes) => {
    const out = [...lines];
    for (const [at, how, text] of changes) {
      const line = out[at] ?? '';
      if (how === 0) out.splice(at, 1);
      else if (how === 1) out[at] = ` ${line}`;
      else if (how === 2) out[at] = line.slice(1);
      else out[at] = `${line.slice(0, text.length)}${text}${line.slice(text.length)}`;
    }
    return out.join('\n');
  });
/** Text that is barely YAML: tabs, anchors, tags, directives, odd characters. */
const garbage = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(fc.constantFrom('policy:', '  rules:', '    - id: x', '\t', '- ', ': ', '&a ', '*a', '<<: *a', '!!map', '%YAML 1.2', '---', '...', '{', '[', '"', "'", '|', '>', '#', '\n', '  ', 'x', '\u0000', '\uFEFF', '\u2028'), { maxLength: 40 }).map((parts) => parts.join('')),
);

function check(text: string): void {
  let error: unknown;
  try {
    parseConfig(text, FILE, { GITHUB_TOKEN: 'ghp_x' });
    return;
  } catch (e) {
    error = e;
  }
  if (!(error instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(text)}: ${(error as Error)?.stack ?? String(error)}`);
  const count = text.split(/\r\n|\r|\n/).length;
  for (const line of error.message.split('\n')) {
    const at = new RegExp(`^${FILE}:(\\d+):(\\d+): \\S`).exec(line);
    expect(at, `${JSON.stringify(line)} for ${JSON.stringify(text)}`).not.toBeNull();
    expect(Number(at![1])).toBeGreaterThanOrEqual(1);
    expect(Number(at![1])).toBeLessThanOrEqual(count + 1);
    expect(line).not.toMatch(/\n\s+at |undefined|\[object Object\]|NaN/);
  }
}

describe('config fuzz', () => {
  it('config-shaped YAML with arbitrary values: accepted, or a ConfigError with file:line:column', () => {
    fc.assert(fc.property(shaped, check), runs(80));
  }, timeout(80, 10));

  it('the example config with lines deleted, shifted or typed into', () => {
    fc.assert(fc.property(mutated, check), runs(25));
  }, timeout(25, 30));

  it('text that is barely YAML', () => {
    fc.assert(fc.property(garbage, check), runs(150));
  }, timeout(150, 10));
});
