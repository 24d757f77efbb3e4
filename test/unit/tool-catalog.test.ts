import { describe, expect, it } from 'vitest';
import { BUILTIN_TOOLS } from '../../tools/catalog.ts';
import { createGithubConnector } from '../../tools/github/index.ts';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { createAwsConnector } from '../../tools/aws/index.ts';
import { z } from 'zod';
import { argTypes, policyToolProblems, policyTypeProblems } from '../../gateway/policy-tools.ts';
import type { JsonObject, PolicyConfig } from '../../kernel/index.ts';

const base = 'http://127.0.0.1:1';
const NAMES = Object.keys(BUILTIN_TOOLS);
const TYPED = Object.entries(BUILTIN_TOOLS).map(([name, args]) => ({ name, args }));

describe('the offline tool catalog', () => {
  it('lists exactly the tools the built-in connectors register, with the argument types of their schemas', () => {
    const registered = [
      ...createGithubConnector({ sandbox: true, baseUrl: base }).tools,
      ...createStripeConnector({ sandbox: true, baseUrl: base }).tools,
      ...createAwsConnector({ sandbox: true, endpoint: base, region: 'us-east-1' }).tools,
    ];
    expect(BUILTIN_TOOLS).toEqual(Object.fromEntries(registered.map((tool) => [tool.name, argTypes(z.toJSONSchema(tool.input) as JsonObject)])));
  });
});

describe('what agents read about each built-in tool', () => {
  const registered = () => [
    ...createGithubConnector({ sandbox: true, baseUrl: base }).tools,
    ...createStripeConnector({ sandbox: true, baseUrl: base }).tools,
    ...createAwsConnector({ sandbox: true, endpoint: base, region: 'us-east-1' }).tools,
  ];

  it('describes every parameter, so a model knows what to pass (owner, repo, pull_number, charge, customer, ...)', () => {
    const undescribed = registered().flatMap((tool) => {
      const schema = z.toJSONSchema(tool.input) as { properties?: Record<string, { description?: string }> };
      return Object.entries(schema.properties ?? {}).filter(([, p]) => !p.description).map(([key]) => `${tool.name}.${key}`);
    });
    expect(undescribed).toEqual([]);
  });

  it('leaves what happens to policy: no tool claims it always or never needs approval', () => {
    const claims = registered().filter((tool) => /needs approval|requires approval|without approval/i.test(tool.description)).map((tool) => tool.name);
    expect(claims).toEqual([]);
  });
});

describe('policy tool names that match no tool', () => {
  const policy = (...tools: string[][]): PolicyConfig => ({ rules: tools.map((t, i) => ({ id: `r${i}`, tools: t, decision: 'approve' })) }) as PolicyConfig;

  it('accepts real names, globs that match, and anything under a configured MCP server', () => {
    expect(policyToolProblems(policy(['github_merge_pull_request', 'stripe_*', 'aws_ec2_?top_instances'], ['files_write_file', 'files_*', 'fil*']), NAMES, ['files'])).toEqual([]);
  });

  it('names a misspelt tool, its rule, and the tool meant', () => {
    const [problem, ...rest] = policyToolProblems(policy(['github_get_*'], ['github_merge_pr']), NAMES, []);
    expect(rest).toEqual([]);
    expect(problem).toBe('policy.rules[1] (rule "r1"): no tool is named "github_merge_pr", so this rule would never match; did you mean "github_merge_pull_request"?');
    expect(policyToolProblems(policy(['stripe_create_refnud']), NAMES, [])[0]).toMatch(/did you mean "stripe_create_refund"\?$/);
  });

  it('names a glob that matches nothing, and a tool of an MCP server that is not configured', () => {
    expect(policyToolProblems(policy(['githb_get_*']), NAMES, [])[0]).toMatch(/tool pattern "githb_get_\*" matches no tool, so this rule would never match; did you mean "github_get_\*"\?$/);
    expect(policyToolProblems(policy(['slack_*']), NAMES, [])[0]).toMatch(/; tool names start with github_\*, stripe_\*, aws_\*$/);
    expect(policyToolProblems(policy(['files_write_file']), NAMES, ['notes'])).toHaveLength(1);
  });
});

describe('policy expressions checked against the argument types of each tool they cover', () => {
  const rule = (tools: string[], when: string, sum?: string): PolicyConfig => ({ rules: [{ id: 'r', tools, when, decision: 'deny', ...(sum && { limit: { sum, per: 'day', max: 1 } }) }] }) as PolicyConfig;

  it('passes expressions that fit every tool', () => {
    expect(policyTypeProblems(rule(['stripe_create_refund', 'stripe_create_payout'], 'args.amount <= 5000 && has(args.amount)', 'args.amount'), TYPED)).toEqual([]);
    expect(policyTypeProblems(rule(['github_merge_pull_request'], 'args.pull_number > 0 && args.sha.startsWith("a")'), TYPED)).toEqual([]);
  });

  it('refuses a number compared with a string, naming the tool and the fix', () => {
    const [problem] = policyTypeProblems(rule(['stripe_create_refund'], 'args.amount <= "5000"'), TYPED);
    expect(problem).toBe('policy.rules[0] (rule "r"): when `args.amount <= "5000"` fails for stripe_create_refund: no such overload: int <= string; compare values of the same type, e.g. args.amount <= 5000 (an int, no quotes)');
  });

  it('refuses an argument a covered tool does not have: a glob over tools without it would deny them all at run time', () => {
    const [problem, ...rest] = policyTypeProblems(rule(['stripe_create_*'], 'args.amount > 100000'), TYPED);
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^policy\.rules\[0\] \(rule "r"\): when `args.amount > 100000` fails for stripe_create_payment_link: No such key: amount; this tool has no such argument \(its arguments: price, quantity, line_items\); use has\(args.x\)/);
    expect(policyTypeProblems(rule(['stripe_create_refund'], 'true', 'args.amout'), TYPED)[0]).toMatch(/limit\.sum `args\.amout` fails for stripe_create_refund: No such key: amout/);
  });
});
