import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../gateway/config.ts';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';
import { compilePolicy, type BudgetReader, type PolicyInput } from '../../kernel/index.ts';

const config = parseConfig(EXAMPLE_CONFIG, 'countersign.yaml', {});
const policy = compilePolicy(config.policy, { roles: Object.keys(config.roles) });
const agent = { id: 'agt_1', name: 'helper', owner: 'dev@example.com' };
const spent = (amount: number): BudgetReader => ({ spent: async () => amount });
const decide = (tool: string, args: PolicyInput['args'], pins: PolicyInput['args'] = {}, budget = spent(0)) =>
  policy.evaluate({ tool, args, agent, intent: { pins } }, budget);

describe('the example config', () => {
  it('loads with roles and compiles', () => {
    expect(config.roles).toEqual({ finance: [], maintainers: [], auditor: [] });
    expect(policy.ruleIds).toEqual(['reads', 'small-refunds', 'refunds-and-payouts', 'merge-default-branch', 'production-deploys', 'no-aws-admin', 'no-admin-collaborators']);
  });

  it('asks two maintainers for production deploys, refuses AWS admin grants, and leaves terminations to the owner', async () => {
    expect(await decide('aws_ecs_deploy', { cluster: 'production', service: 'web', image: 'web:1.4.2' })).toMatchObject({
      decision: 'approve', ruleId: 'production-deploys', approvers: { role: 'maintainers', count: 2 },
    });
    expect((await decide('aws_ecs_deploy', { cluster: 'staging', service: 'web', image: 'web:1.4.2' })).ruleId).toBeNull();
    const admin = await decide('aws_iam_attach_role_policy', { role_name: 'deployer', policy_arn: 'arn:aws:iam::aws:policy/AdministratorAccess' });
    expect(admin).toMatchObject({ decision: 'deny', ruleId: 'no-aws-admin' });
    expect((await decide('aws_iam_attach_role_policy', { role_name: 'deployer', policy_arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' })).decision).toBe('approve');
    expect(await decide('aws_ec2_terminate_instances', { instance_ids: ['i-0a1b2c3d4e5f60002'] })).toMatchObject({ decision: 'approve', ruleId: null });
    for (const tool of ['aws_ecs_describe_services', 'aws_lambda_list_functions']) expect((await decide(tool, {})).ruleId).toBe('reads');
  });

  it('allows reads', async () => {
    for (const tool of ['github_get_pull_request', 'github_list_issues', 'stripe_get_balance', 'stripe_list_charges']) {
      expect(await decide(tool, {})).toMatchObject({ decision: 'allow', ruleId: 'reads' });
    }
  });

  it('allows USD refunds up to $50 within a $200 daily budget, then asks finance', async () => {
    const usd = { currency: 'USD', amount: 90000, amount_refunded: 0, charge: 'ch_1' };
    expect(await decide('stripe_create_refund', { charge: 'ch_1', amount: 5000 }, usd)).toMatchObject({
      decision: 'allow',
      ruleId: 'small-refunds',
      spend: { amount: 5000 },
    });
    expect(await decide('stripe_create_refund', { charge: 'ch_1', amount: 5000 }, usd, spent(16000))).toMatchObject({
      decision: 'approve',
      ruleId: 'refunds-and-payouts',
      approvers: { role: 'finance', count: 1 },
    });
    expect((await decide('stripe_create_refund', { charge: 'ch_1', amount: 5001 }, usd)).ruleId).toBe('refunds-and-payouts');
    expect((await decide('stripe_create_refund', { charge: 'ch_1' }, usd)).ruleId).toBe('refunds-and-payouts'); // whole remainder
    expect((await decide('stripe_create_refund', { charge: 'ch_1', amount: 100 }, { ...usd, currency: 'JPY' })).ruleId).toBe('refunds-and-payouts');
    expect((await decide('stripe_create_payout', { amount: 100, currency: 'usd' }, { currency: 'USD' })).ruleId).toBe('refunds-and-payouts');
  });

  it('needs a maintainer to merge into the default branch, the owner otherwise', async () => {
    const pins = { head_sha: 'abc1234', base: 'main', default_branch: 'main' };
    expect(await decide('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42 }, pins)).toMatchObject({
      decision: 'approve',
      ruleId: 'merge-default-branch',
      approvers: { role: 'maintainers', count: 1 },
      expiresInSeconds: 86_400,
    });
    const feature = await decide('github_merge_pull_request', { pull_number: 43 }, { ...pins, base: 'feature' });
    expect(feature).toMatchObject({ decision: 'approve', ruleId: null, approvers: { role: 'owner', count: 1 } });
  });

  it('denies adding admins with a reason, and leaves other grants to the owner', async () => {
    const admin = await decide('github_add_collaborator', { permission: 'admin', username: 'x' });
    expect(admin).toMatchObject({ decision: 'deny', ruleId: 'no-admin-collaborators' });
    expect(admin.reason).toContain('agents may not grant admin access');
    expect((await decide('github_add_collaborator', { permission: 'push', username: 'x' })).ruleId).toBeNull();
    expect((await decide('github_create_issue', { title: 't' })).decision).toBe('approve');
  });
});
