import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../gateway/config.ts';

const POLICY = `policy:
  rules:
    - id: reads
      tools: [github_get_*]
      decision: allow
`;

function problem(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, 'cs.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads a file, fills defaults and resolves env references', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-config-'));
    const path = join(dir, 'countersign.yaml');
    writeFileSync(path, `publicUrl: https://cs.example.com/\nconnectors:\n  github:\n    token: env:CS_TEST_TOKEN\n${POLICY}`);
    process.env.CS_TEST_TOKEN = 'ghp_test';
    try {
      const config = loadConfig(path);
      expect(config).toMatchObject({
        publicUrl: 'https://cs.example.com',
        holdSeconds: 25,
        roles: {},
        notify: { webhooks: [], webPush: false },
        connectors: { github: { token: 'ghp_test' } },
      });
      expect(config.policy.rules?.[0]?.id).toBe('reads');
    } finally {
      delete process.env.CS_TEST_TOKEN;
    }
  });

  it('says how to get a config when the file is missing', () => {
    expect(() => loadConfig('/nonexistent/countersign.yaml')).toThrow(/no such file.*countersign start.*COUNTERSIGN_CONFIG/);
  });
});

describe('config errors name file, line and column, what is wrong and how to fix it', () => {
  it('unknown keys, with the closest known key', () => {
    const top = problem(`holdSecond: 10\n${POLICY}`);
    expect(top.message).toBe('cs.yaml:1:1: unknown key "holdSecond" in the config; did you mean "holdSeconds"?');
    expect([top.line, top.column]).toEqual([1, 1]);
    const rule = problem(`${POLICY}      whn: args.x == 1\n`);
    expect(rule.message).toBe('cs.yaml:6:7: unknown key "whn" in policy.rules[0]; did you mean "when"?');
    expect(problem(`zzzzzz: 1\n${POLICY}`).message).toContain('known keys here: publicUrl, holdSeconds');
  });

  it('wrong types and missing required keys', () => {
    expect(problem(`holdSeconds: soon\n${POLICY}`).message).toBe(
      'cs.yaml:1:14: holdSeconds must be a whole number of seconds from 0 to 300, e.g. 25, got "soon"',
    );
    expect(problem(`publicUrl: ftp://x\n${POLICY}`).message).toMatch(/^cs.yaml:1:12: publicUrl must be an http:\/\/ or https:\/\/ URL/);
    expect(problem('roles: {}\n').message).toBe('cs.yaml:1:1: policy is missing; add it: a map with default and rules (see the example config)');
    const noDecision = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n');
    expect(noDecision.message).toMatch(/^cs.yaml:3:7: policy.rules\[0\].decision is missing; add it: allow, deny or approve/);
    expect(problem(`roles:\n  finance: ana@example.com\n${POLICY}`).message).toMatch(/^cs.yaml:2:12: roles.finance must be a list of email addresses/);
  });

  it('bad globs', () => {
    const error = problem('policy:\n  rules:\n    - id: r\n      tools: [github_get_*, GitHub-*]\n      decision: allow\n');
    expect(error.message).toMatch(/^cs.yaml:4:29: rule "r": tool pattern "GitHub-\*" may only hold lowercase letters/);
  });

  it('CEL syntax and type errors, pointing into the when expression', () => {
    const syntax = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      when: args.amount <=\n      decision: allow\n');
    expect(syntax.message).toMatch(/^cs.yaml:5:\d+: rule "r": when `args.amount <=` has a CEL syntax error at character \d+: Unexpected token/);
    expect(syntax.line).toBe(5);
    expect(syntax.column).toBeGreaterThan(12);
    const type = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      when: \'tool + 1 == 2\'\n      decision: allow\n');
    expect(type.message).toMatch(/^cs.yaml:5:\d+: rule "r": when `tool \+ 1 == 2` has a CEL type error at character 1: no such overload: string \+ int/);
    expect(type.column).toBe(14); // just inside the quote, at "tool"
    const block = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      when: |\n        intent.pinz.base == "main"\n      decision: deny\n');
    expect(block.message).toMatch(/^cs.yaml:6:16: rule "r": when `intent.pinz.base == "main"` has a CEL type error at character 8: No such key: pinz/);
  });

  it('unknown roles in approvers, and the reserved owner role', () => {
    const error = problem(
      'roles:\n  finance: [ana@example.com]\npolicy:\n  rules:\n    - id: r\n      tools: [x_y]\n      decision: approve\n      approvers:\n        role: finanse\n        count: 1\n',
    );
    expect(error.message).toBe(
      'cs.yaml:9:15: rule "r": approvers role "finanse" is not a known role; use one of finance, owner, or add it under roles: in the config',
    );
    expect(problem(`roles:\n  owner: [a@example.com]\n${POLICY}`).message).toMatch(/^cs.yaml:2:3: role "owner" is built in/);
  });

  it('duplicate rule ids and duplicate YAML keys', () => {
    const dup = problem(`${POLICY}    - id: reads\n      tools: [x_y]\n      decision: deny\n`);
    expect(dup.message).toBe('cs.yaml:6:11: rule id "reads" is used twice (rules 1 and 2); give each rule its own id');
    expect(problem(`holdSeconds: 1\nholdSeconds: 2\n${POLICY}`).message).toMatch(/^cs.yaml:2:1: YAML syntax: Map keys must be unique/);
  });

  it('bad durations and budget windows', () => {
    const expires = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      decision: approve\n      expires: 10 minutes\n');
    expect(expires.message).toBe('cs.yaml:6:16: rule "r": expires "10 minutes" is not a duration; write a whole number followed by s, m, h, d or w, e.g. "15m", "2h", "1d"');
    const per = problem('policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      decision: allow\n      limit: {sum: args.amount, per: fortnight, max: 10}\n');
    expect(per.message).toMatch(/^cs.yaml:6:38: rule "r": limit.per "fortnight"; write hour, day, week/);
  });

  it('env references: a missing variable is named', () => {
    const error = problem(`connectors:\n  stripe:\n    secretKey: env:CS_NOT_SET\n${POLICY}`);
    expect(error.message).toBe('cs.yaml:3:16: connectors.stripe.secretKey reads the environment variable CS_NOT_SET, which is not set; export CS_NOT_SET or remove this line');
    const config = parseConfig(`connectors:\n  stripe:\n    secretKey: env:CS_SET\n${POLICY}`, 'cs.yaml', { CS_SET: 'sk_test_1' });
    expect(config.connectors.stripe?.secretKey).toBe('sk_test_1');
  });

  it('YAML syntax errors and empty files', () => {
    expect(problem('policy:\n  rules: [\n').message).toMatch(/^cs.yaml:\d+:\d+: YAML syntax: /);
    expect(problem('').message).toMatch(/^cs.yaml:1:1: the config is empty/);
    expect(problem('- a\n- b\n').message).toMatch(/^cs.yaml:1:1: the config must be a map/);
  });

  it('reports several shape problems at once, in file order', () => {
    const error = problem(`holdSeconds: -1\nrateLimit: {perMinute: 0}\n${POLICY}`);
    expect(error.message.split('\n').map((line) => line.split(': ')[0])).toEqual(['cs.yaml:1:14', 'cs.yaml:2:24']);
  });

  it('an alias used before its anchor, or an alias bomb, is a ConfigError at the alias (found by test/fuzz)', () => {
    const early = problem('policy: *rules\nx: &rules {}\n');
    expect(early.message).toMatch(/^cs\.yaml:1:9: YAML aliases: .*anchor/);
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) rows.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const bomb = problem(`${rows.join('\n')}\npolicy: {}\n`);
    expect(bomb.message).toMatch(/^cs\.yaml:\d+:\d+: YAML aliases: /);
    // An alias inside its own anchor's node: a value that would contain itself (the config fuzz, seed 101730626).
    expect(problem('&a \n<<: *a').message).toBe('cs.yaml:2:5: YAML aliases: this *alias sits inside the &anchor it names, so its value would contain itself; write the value out');
    expect(problem('policy: &p\n  rules: [*p]\n').message).toMatch(/^cs\.yaml:2:11: YAML aliases: this \*alias sits inside/);
  });

  it('a missing map of names says what it must be, not zod\'s words (found by test/fuzz)', () => {
    expect(problem('connectors:\n  mcp: {}\npolicy: {}\n').message).toBe('cs.yaml:2:8: connectors.mcp.servers is missing; add it: a map of names to settings');
  });

  it("a downstream server's timeoutMs is milliseconds, and says so", () => {
    const config = (value: string) => `connectors:\n  mcp:\n    servers:\n      files: { command: npx, timeoutMs: ${value} }\n${POLICY}`;
    expect(problem(config('60')).message).toMatch(/connectors\.mcp\.servers\.files\.timeoutMs must be milliseconds from 100 to 3600000, e.g. 60000/);
    expect(parseConfig(config('60000'), 'cs.yaml', {}).connectors?.mcp?.servers.files?.timeoutMs).toBe(60000);
  });
});
