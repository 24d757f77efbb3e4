import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPolicyFile, explainPolicyFile, policyCheck, policyExplain, policyTest, testPolicyFile } from '../../gateway/commands/policy.ts';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-policy-cmd-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const example = file('countersign.yaml', EXAMPLE_CONFIG);
const broken = file('broken.yaml', 'policy:\n  rules:\n    - id: r\n      tools: [x_y]\n      when: args.amount <=\n      decision: allow\n');

describe('policy check', () => {
  it('reports the rules and version of a good config', async () => {
    const result = await checkPolicyFile(example);
    expect(result).toMatchObject({ ok: true, rules: ['reads', 'small-refunds', 'refunds-and-payouts', 'merge-default-branch', 'production-deploys', 'no-aws-admin', 'no-admin-collaborators'] });
    expect(result.version).toMatch(/^[0-9a-f]{64}$/);
    const out = await policyCheck(example, { json: true });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ ok: true });
  });

  it('reports what is wrong with a bad config, with its line, and exits 1', async () => {
    const result = await checkPolicyFile(broken);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/broken.yaml:5:\d+: rule "r": when .* CEL syntax error/);
    const out = await policyCheck(broken);
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toContain('broken.yaml:5:');
  });
});

describe('policy explain', () => {
  it('explains a call offline with a placeholder agent', async () => {
    const explanation = await explainPolicyFile(example, { tool: 'github_add_collaborator', args: { permission: 'admin' } });
    expect(explanation.verdict).toMatchObject({ decision: 'deny', ruleId: 'no-admin-collaborators' });
    expect(explanation.trace.map((s) => s.ruleId)).toEqual(['reads', 'small-refunds', 'refunds-and-payouts', 'merge-default-branch', 'production-deploys', 'no-aws-admin', 'no-admin-collaborators']);
    const out = await policyExplain(example, { tool: 'stripe_create_refund', args: '{"charge":"ch_1","amount":3000}', pins: '{"currency":"USD"}' });
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain('stripe_create_refund: ALLOW by rule small-refunds');
    expect(out.stdout).toContain('MATCH small-refunds');
  });

  it('says unknown pins make pin-dependent rules fail closed offline', async () => {
    const out = await policyExplain(example, { tool: 'stripe_create_refund', args: '{"amount":3000}', json: true });
    const parsed = JSON.parse(out.stdout);
    expect(parsed.verdict).toMatchObject({ decision: 'deny', ruleId: 'small-refunds' });
    expect(parsed.verdict.reason).toContain('No such key: currency');
    expect((await policyExplain(example, { tool: 'stripe_create_refund', args: '{"amount":3000}' })).stdout).toContain('pass --pins JSON');
  });

  it('refuses bad --args with a fix', async () => {
    const out = await policyExplain(example, { tool: 'x_y', args: '{amount: 1}' });
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toMatch(/--args is not valid JSON .*write e.g./);
    expect((await policyExplain(example, { tool: 'x_y', args: '[1]' })).stdout).toContain('must be a JSON object');
  });
});

describe('policy test', () => {
  const cases = file(
    'cases.yaml',
    `- tool: github_get_repository
  expect: allow
- name: small refund
  tool: stripe_create_refund
  args: {charge: ch_1, amount: 3000}
  intent: {pins: {currency: USD}}
  expect: allow
  rule: small-refunds
- name: budget spent
  tool: stripe_create_refund
  args: {charge: ch_1, amount: 3000}
  intent: {pins: {currency: USD}}
  spent: {small-refunds: 19000}
  expect: approve
  rule: refunds-and-payouts
- name: wrong on purpose
  tool: github_add_collaborator
  args: {permission: admin}
  expect: allow
`,
  );

  it('says which cases failed and why', async () => {
    const result = await testPolicyFile(example, cases);
    expect(result.ok).toBe(false);
    expect(result.passed).toBe(3);
    expect(result.failed).toEqual([
      expect.objectContaining({ name: 'wrong on purpose', expected: 'allow', got: 'deny by no-admin-collaborators' }),
    ]);
    const out = await policyTest(example, cases);
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toContain('FAIL wrong on purpose: expected allow, got deny by no-admin-collaborators');
    expect(out.stdout).toContain('3 passed, 1 failed');
  });

  it('passes when every case holds, and reports bad case files with a line', async () => {
    const good = file('good.yaml', 'cases:\n  - tool: github_list_issues\n    expect: allow\n');
    expect((await policyTest(example, good)).exitCode).toBe(0);
    const bad = file('bad.yaml', '- tool: github_list_issues\n  expect: maybe\n');
    const out = await policyTest(example, bad);
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toBe(`${bad}:2:11: case 1: expect must be allow, deny or approve\n`);
  });
});

describe("README's policy test example", () => {
  it('passes against the example config, case by case, so the documented format stays true', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const start = readme.indexOf('- name: a small USD refund runs at once');
    expect(start).toBeGreaterThan(0);
    const cases = file('readme-cases.yaml', readme.slice(start, readme.indexOf('```', start)));
    const result = await testPolicyFile(example, cases);
    expect(result.failed).toEqual([]);
    expect(result.passed).toBe(3);
  });
});
