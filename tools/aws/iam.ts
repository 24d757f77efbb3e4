/**
 * IAM: attach a managed policy to a role. Consequence `grants-access`: the intent names the role, the policy and,
 * for the policies that hand out everything, says so in Countersign's own words (never the policy's description).
 */
import { z } from 'zod';
import { KernelError } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { AwsApi } from './client.ts';
import { policyArn, roleName } from './names.ts';

/** What the broadest AWS managed policies mean, in Countersign's words. */
const BROAD: Record<string, string> = {
  'arn:aws:iam::aws:policy/AdministratorAccess': 'full access to every AWS service and resource in the account',
  'arn:aws:iam::aws:policy/PowerUserAccess': 'full access to every AWS service except managing users and groups',
  'arn:aws:iam::aws:policy/IAMFullAccess': 'full control of IAM, enough to grant itself anything',
};

export function iamTools(api: AwsApi): ToolSpec[] {
  const input = z.object({ role_name: roleName.describe('The IAM role that gets the policy'), policy_arn: policyArn.describe('ARN of the managed policy to attach') });

  async function look(a: z.infer<typeof input>) {
    const role = (await api.call(`read IAM role ${a.role_name}`, () => api.iam((sdk, client) => client.send(new sdk.GetRoleCommand({ RoleName: a.role_name }))))).Role!;
    const policy = (await api.call(`read IAM policy ${a.policy_arn}`, () => api.iam((sdk, client) => client.send(new sdk.GetPolicyCommand({ PolicyArn: a.policy_arn }))))).Policy!;
    const attached = (await api.call(`list the policies of IAM role ${a.role_name}`, () => api.iam((sdk, client) => client.send(new sdk.ListAttachedRolePoliciesCommand({ RoleName: a.role_name }))))).AttachedPolicies ?? [];
    return { role, policy, attached: attached.map((p) => p.PolicyArn!).sort() };
  }

  const attach = defineTool({
    name: 'aws_iam_attach_role_policy',
    title: 'Attach a policy to an IAM role',
    description: 'Attach a managed IAM policy to a role, granting whoever assumes the role what the policy allows. May need approval, depending on policy.',
    input,
    impact: 'high',
    consequence: 'grants-access',
    async describe(a): Promise<Described> {
      const { role, policy, attached } = await look(a);
      if (attached.includes(a.policy_arn)) {
        throw new KernelError('invalid_arguments', `IAM role ${a.role_name} already has policy ${policy.PolicyName} attached; nothing to do`);
      }
      const broad = BROAD[a.policy_arn];
      return {
        summary: `Grant IAM role ${role.RoleName} the managed policy ${policy.PolicyName}${broad ? `: ${broad}` : ''}`,
        consequence: 'grants-access',
        reversible: true,
        fields: [
          { label: 'Role', kind: 'account', value: role.Arn ?? a.role_name },
          { label: 'Policy', kind: 'permission', value: a.policy_arn },
          ...(policy.Description ? [{ label: 'Policy description', kind: 'text' as const, value: policy.Description, writtenBy: { on: 'AWS', by: null } }] : []),
          { label: 'Already attached', kind: 'text', value: attached.length ? attached.join(', ') : 'none' },
        ],
        pins: { role_id: role.RoleId ?? '', attached },
      };
    },
    async execute(a) {
      await api.call(`attach ${a.policy_arn} to IAM role ${a.role_name}`, () => api.iam((sdk, client) => client.send(new sdk.AttachRolePolicyCommand({ RoleName: a.role_name, PolicyArn: a.policy_arn }))), { write: true });
      return { data: { role_name: a.role_name, policy_arn: a.policy_arn, attached: true }, text: `Attached ${a.policy_arn} to IAM role ${a.role_name}` };
    },
    rerunSafe: 'attaching a policy that is attached changes nothing at AWS',
    async reconcile(a) {
      // Attaching is idempotent at AWS: attached now means the effect holds, and re-running changes nothing.
      const attached = (await api.call(`list the policies of IAM role ${a.role_name}`, () => api.iam((sdk, client) => client.send(new sdk.ListAttachedRolePoliciesCommand({ RoleName: a.role_name }))))).AttachedPolicies ?? [];
      return attached.some((p) => p.PolicyArn === a.policy_arn)
        ? { data: { role_name: a.role_name, policy_arn: a.policy_arn, attached: true }, text: `IAM role ${a.role_name} has ${a.policy_arn} attached` }
        : null;
    },
  });
  return [attach];
}
