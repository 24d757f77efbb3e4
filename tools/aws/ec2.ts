/**
 * EC2: stop or terminate instances. The intent counts instances by state and environment tag and, for termination,
 * refuses instances AWS would refuse anyway (termination protection) before anyone is asked to approve.
 */
import type { Instance } from '@aws-sdk/client-ec2';
import { z } from 'zod';
import { KernelError, type IntentField, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { AwsApi } from './client.ts';
import { instanceId } from './names.ts';

const tag = (i: Instance, key: string) => i.Tags?.find((t) => t.Key === key)?.Value;
const stateOf = (i: Instance) => i.State?.Name ?? 'unknown';

export function ec2Tools(api: AwsApi): ToolSpec[] {
  const input = z.object({
    instance_ids: z.array(instanceId).min(1).max(50).refine((ids) => new Set(ids).size === ids.length, 'instance ids must be distinct').describe('1 to 50 distinct instance ids (i-...)'),
  });
  type Args = z.infer<typeof input>;

  async function instances(ids: string[]): Promise<Instance[]> {
    const out = await api.call(`describe EC2 instances ${ids.join(', ')}`, () => api.ec2((sdk, client) => client.send(new sdk.DescribeInstancesCommand({ InstanceIds: ids }))));
    const all = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    return ids.map((id) => all.find((i) => i.InstanceId === id)!).filter(Boolean);
  }

  function fields(found: Instance[]): IntentField[] {
    return found.flatMap((i): IntentField[] => [
      { label: 'Instance', kind: 'text', value: `${i.InstanceId} (${i.InstanceType ?? '?'}, ${stateOf(i)})` },
      ...(tag(i, 'Name') !== undefined ? [{ label: `Name tag of ${i.InstanceId}`, kind: 'text' as const, value: tag(i, 'Name')!, writtenBy: { on: 'AWS', by: null } }] : []),
      ...(tag(i, 'environment') !== undefined ? [{ label: `Environment tag of ${i.InstanceId}`, kind: 'text' as const, value: tag(i, 'environment')!, writtenBy: { on: 'AWS', by: null } }] : []),
    ]);
  }

  /** "2 EC2 instances (2 running) in us-east-1": counts and ids only; tags stay in quoted fields. */
  function counted(found: Instance[]): string {
    const byState = new Map<string, number>();
    for (const i of found) byState.set(stateOf(i), (byState.get(stateOf(i)) ?? 0) + 1);
    const states = [...byState].map(([s, n]) => `${n} ${s}`).join(', ');
    const ids = found.map((i) => i.InstanceId).join(', ');
    return `${found.length === 1 ? 'EC2 instance' : `${found.length} EC2 instances`} ${ids} in ${api.region} (${states})`;
  }

  const result = (verb: string, changes: { InstanceId?: string; CurrentState?: { Name?: string }; PreviousState?: { Name?: string } }[]) => {
    const rows: JsonObject[] = changes.map((c) => ({ instance_id: c.InstanceId ?? null, previous: c.PreviousState?.Name ?? null, current: c.CurrentState?.Name ?? null }));
    return { data: { instances: rows }, text: rows.map((r) => `${verb} ${String(r.instance_id)}: ${String(r.previous)} -> ${String(r.current)}`).join('\n') };
  };

  function tool(kind: 'stop' | 'terminate'): ToolSpec {
    const terminate = kind === 'terminate';
    const target = terminate ? ['shutting-down', 'terminated'] : ['stopping', 'stopped'];
    return defineTool({
      name: `aws_ec2_${kind}_instances`,
      title: terminate ? 'Terminate EC2 instances' : 'Stop EC2 instances',
      description: terminate
        ? 'Terminate EC2 instances: they and their instance-store and delete-on-termination volumes are gone for good. May need approval, depending on policy.'
        : 'Stop EC2 instances (they can be started again; instance-store data is lost). May need approval, depending on policy.',
      input,
      impact: 'high',
      consequence: terminate ? 'deletes' : 'writes',
      async describe(a: Args): Promise<Described> {
        const found = await instances(a.instance_ids);
        if (terminate) {
          for (const i of found) {
            const attr = await api.call(`read termination protection of ${i.InstanceId}`, () => api.ec2((sdk, client) => client.send(new sdk.DescribeInstanceAttributeCommand({ InstanceId: i.InstanceId!, Attribute: 'disableApiTermination' }))));
            if (attr.DisableApiTermination?.Value) {
              throw new KernelError('invalid_arguments', `EC2 instance ${i.InstanceId} has termination protection on, so AWS will refuse to terminate it; turning protection off is a separate, deliberate change`);
            }
          }
        }
        const gone = found.filter((i) => stateOf(i) === 'terminated');
        if (gone.length) throw new KernelError('invalid_arguments', `EC2 instance ${gone.map((i) => i.InstanceId).join(', ')} is already terminated`);
        return {
          summary: `${terminate ? 'Terminate' : 'Stop'} ${counted(found)}${terminate ? '; their local data is lost for good' : ''}`,
          consequence: terminate ? 'deletes' : 'writes',
          reversible: !terminate,
          fields: [...fields(found), { label: 'Region', kind: 'environment', value: api.region }],
          pins: { instances: Object.fromEntries(found.map((i) => [i.InstanceId!, stateOf(i)])) },
        };
      },
      async execute(a: Args) {
        const ids = a.instance_ids;
        const out = terminate
          ? await api.call(`terminate EC2 instances ${ids.join(', ')}`, () => api.ec2((sdk, client) => client.send(new sdk.TerminateInstancesCommand({ InstanceIds: ids }))), { write: true })
          : await api.call(`stop EC2 instances ${ids.join(', ')}`, () => api.ec2((sdk, client) => client.send(new sdk.StopInstancesCommand({ InstanceIds: ids }))), { write: true });
        const changes = 'TerminatingInstances' in out ? out.TerminatingInstances ?? [] : (out as { StoppingInstances?: [] }).StoppingInstances ?? [];
        return result(terminate ? 'Terminating' : 'Stopping', changes);
      },
      rerunSafe: 'stopping or terminating an instance that is already stopping or terminated changes nothing',
      async reconcile(a: Args) {
        // Stopping and terminating converge on a state: when every instance is there, the effect holds; when any is
        // still running, nothing of this request took effect on it, and a rerun is the same request.
        const found = await instances(a.instance_ids);
        if (!found.every((i) => target.includes(stateOf(i)))) return null;
        return result(terminate ? 'Terminating' : 'Stopping', found.map((i) => ({ InstanceId: i.InstanceId, CurrentState: i.State, PreviousState: { Name: 'running' } })));
      },
    });
  }
  return [tool('stop'), tool('terminate')];
}
