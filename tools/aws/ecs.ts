/**
 * ECS: read services, and deploy a new image (or an existing task definition revision) to a service. A deploy is
 * pinned to the task definition the service runs when approved, so a deploy made elsewhere meanwhile refuses it.
 */
import type { Service, TaskDefinition } from '@aws-sdk/client-ecs';
import { z } from 'zod';
import { KernelError, type IntentField, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { AwsApi } from './client.ts';
import { clusterName, imageRef, serviceName, taskDefinitionRef } from './names.ts';

const revisionOf = (arn: string) => arn.replace(/^.*task-definition\//, '');

function trimService(s: Service): JsonObject {
  return {
    serviceName: s.serviceName ?? null, clusterArn: s.clusterArn ?? null, status: s.status ?? null, taskDefinition: s.taskDefinition ?? null,
    desiredCount: s.desiredCount ?? null, runningCount: s.runningCount ?? null, pendingCount: s.pendingCount ?? null,
    deployments: (s.deployments ?? []).map((d) => ({ id: d.id ?? null, status: d.status ?? null, taskDefinition: d.taskDefinition ?? null, rolloutState: d.rolloutState ?? null })),
  };
}

export function ecsTools(api: AwsApi): ToolSpec[] {
  async function service(cluster: string, name: string): Promise<Service> {
    const out = await api.call(`describe ECS service ${name} in cluster ${cluster}`, () => api.ecs((sdk, client) => client.send(new sdk.DescribeServicesCommand({ cluster, services: [name] }))));
    const found = out.services?.[0];
    if (!found || found.status !== 'ACTIVE') {
      throw new KernelError('invalid_arguments', `ECS service ${name} is not active in cluster ${cluster} (${out.failures?.[0]?.reason ?? found?.status ?? 'missing'}); check the names with aws_ecs_describe_services`);
    }
    return found;
  }
  const taskDefinition = async (ref: string): Promise<TaskDefinition> =>
    (await api.call(`describe task definition ${ref}`, () => api.ecs((sdk, client) => client.send(new sdk.DescribeTaskDefinitionCommand({ taskDefinition: ref }))))).taskDefinition!;

  const describeServices = defineTool({
    name: 'aws_ecs_describe_services',
    title: 'Describe ECS services',
    description: 'Read ECS services of a cluster: the task definition each runs, desired and running counts, deployments.',
    input: z.object({ cluster: clusterName, services: z.array(serviceName).min(1).max(10).describe('Names of 1 to 10 services in the cluster') }),
    impact: 'read',
    consequence: 'reads',
    async describe(a): Promise<Described> {
      return {
        summary: `Read ${a.services.length === 1 ? `ECS service ${a.services[0]}` : `${a.services.length} ECS services`} in cluster ${a.cluster}`,
        consequence: 'reads', reversible: true,
        fields: [{ label: 'Cluster', kind: 'environment', value: a.cluster }, ...a.services.map((s): IntentField => ({ label: 'Service', kind: 'text', value: s }))],
        pins: {},
      };
    },
    async execute(a) {
      const out = await api.call(`describe ECS services in cluster ${a.cluster}`, () => api.ecs((sdk, client) => client.send(new sdk.DescribeServicesCommand({ cluster: a.cluster, services: a.services }))));
      const services = (out.services ?? []).map(trimService);
      const failures = (out.failures ?? []).map((f) => ({ arn: f.arn ?? null, reason: f.reason ?? null }));
      const lines = services.map((s) => `${String(s.serviceName)}: ${revisionOf(String(s.taskDefinition))}, ${String(s.runningCount)}/${String(s.desiredCount)} running`);
      return { data: { services, failures }, text: [`${services.length} ECS service(s) in ${a.cluster}`, ...lines, ...failures.map((f) => `missing: ${String(f.arn)}`)].join('\n') };
    },
  });

  const deployInput = z
    .object({
      cluster: clusterName,
      service: serviceName.describe('The ECS service to deploy to'),
      image: imageRef.optional().describe('new image for the service\'s container; a new task definition revision is registered'),
      container: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/).optional().describe('which container gets the image, when the task has several'),
      task_definition: taskDefinitionRef.optional().describe('an existing revision to run instead, as family:revision'),
    })
    .refine((a) => (a.image === undefined) !== (a.task_definition === undefined), { message: 'pass exactly one of image or task_definition', path: ['image'] });
  type DeployArgs = z.infer<typeof deployInput>;

  async function plan(a: DeployArgs) {
    const current = await service(a.cluster, a.service);
    const running = await taskDefinition(current.taskDefinition!);
    const containers = running.containerDefinitions ?? [];
    if (a.task_definition !== undefined) {
      const target = await taskDefinition(a.task_definition);
      return { current, running, target, container: null, image: target.containerDefinitions?.map((c) => c.image).join(', ') ?? '' };
    }
    const name = a.container ?? (containers.length === 1 ? containers[0]!.name : undefined);
    const container = containers.find((c) => c.name === name);
    if (!container) {
      throw new KernelError('invalid_arguments', `task definition ${revisionOf(running.taskDefinitionArn!)} has containers ${containers.map((c) => c.name).join(', ')}; pass container to say which one gets the image`);
    }
    return { current, running, target: null, container, image: a.image! };
  }

  const deploy = defineTool({
    name: 'aws_ecs_deploy',
    title: 'Deploy to an ECS service',
    description: 'Deploy a new container image (or an existing task definition revision) to an ECS service. May need approval, depending on policy; pinned to the revision the service runs when approved.',
    input: deployInput,
    impact: 'high',
    consequence: 'deploys',
    async describe(a): Promise<Described> {
      const p = await plan(a);
      const from = revisionOf(p.running.taskDefinitionArn!);
      const now = p.container ? p.container.image ?? '' : (p.running.containerDefinitions ?? []).map((c) => c.image).join(', ');
      const what = p.target ? `task definition ${revisionOf(p.target.taskDefinitionArn!)}` : `image ${p.image}`;
      return {
        summary: `Deploy ${what} to ECS service ${a.service} in cluster ${a.cluster} (now ${from}, ${p.current.runningCount ?? 0} of ${p.current.desiredCount ?? 0} tasks running)`,
        consequence: 'deploys',
        reversible: true,
        fields: [
          { label: 'Cluster', kind: 'environment', value: a.cluster },
          { label: 'Service', kind: 'text', value: a.service },
          { label: p.target ? 'New task definition' : 'New image', kind: 'text', value: p.target ? revisionOf(p.target.taskDefinitionArn!) : p.image },
          ...(p.container ? [{ label: 'Container', kind: 'text' as const, value: p.container.name ?? '' }] : []),
          { label: 'Running now', kind: 'text', value: `${from} (${now})` },
          { label: 'Region', kind: 'environment', value: api.region },
        ],
        pins: { cluster: a.cluster, service: a.service, task_definition: p.running.taskDefinitionArn!, image: now },
      };
    },
    async execute(a, ctx) {
      const p = await plan(a);
      let target = p.target?.taskDefinitionArn;
      if (!target) {
        const r = p.running;
        const containerDefinitions = (r.containerDefinitions ?? []).map((c) => (c.name === p.container!.name ? { ...c, image: p.image } : c));
        const registered = await api.call(`register a task definition for image ${p.image}`, () => api.ecs((sdk, client) => client.send(new sdk.RegisterTaskDefinitionCommand({
          family: r.family!, containerDefinitions, taskRoleArn: r.taskRoleArn, executionRoleArn: r.executionRoleArn, networkMode: r.networkMode,
          requiresCompatibilities: r.requiresCompatibilities, cpu: r.cpu, memory: r.memory, volumes: r.volumes,
          tags: [{ key: 'countersign-request', value: ctx.requestId }],
        }))), { write: true });
        target = registered.taskDefinition!.taskDefinitionArn!;
      }
      const out = await api.call(`update ECS service ${a.service} in cluster ${a.cluster}`, () => api.ecs((sdk, client) => client.send(new sdk.UpdateServiceCommand({ cluster: a.cluster, service: a.service, taskDefinition: target }))), { write: true });
      const s = trimService(out.service!);
      return { data: s, text: `Deploying ${revisionOf(target!)} to ECS service ${a.service} in cluster ${a.cluster} (deployment ${String((s.deployments as JsonObject[])[0]?.id)})` };
    },
    rerunSafe: 'the deploy is pinned to the running revision: once it changed, the pin check refuses a second deploy',
    async reconcile(a) {
      // Happened when the service already runs a revision with the approved image; otherwise the pinned revision
      // still runs (the host's pin check refuses anything else), so running it again is the same single deploy.
      const current = await service(a.cluster, a.service);
      const running = await taskDefinition(current.taskDefinition!);
      const images = (running.containerDefinitions ?? []).map((c) => c.image);
      const done = a.task_definition !== undefined ? revisionOf(current.taskDefinition!) === revisionOf(a.task_definition) : images.includes(a.image);
      return done ? { data: trimService(current), text: `ECS service ${a.service} already runs ${revisionOf(current.taskDefinition!)}` } : null;
    },
  });

  return [describeServices, deploy];
}
