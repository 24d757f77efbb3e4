/**
 * The AWS sandbox's world, seeded with a story: account 123456789012 in us-east-1, ECS cluster `production` running
 * service `web` on `web:1.4.1`, a Lambda `thumbnailer`, EC2 instances `web-1` (termination protection on) and `web-2`,
 * IAM role `deployer`, and bucket `acme-assets`. Writes change it, so pins can drift in tests.
 */
import { createHash } from 'node:crypto';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

export interface TaskDefinition {
  family: string;
  revision: number;
  containerDefinitions: { name: string; image: string; essential?: boolean; cpu?: number; memory?: number }[];
  status: 'ACTIVE' | 'INACTIVE';
  registeredAt: number;
}
export interface EcsService { cluster: string; name: string; taskDefinition: string; desiredCount: number; runningCount: number; deployments: { id: string; status: string; taskDefinition: string; createdAt: number }[] }
export interface LambdaFunction { name: string; runtime: string; handler: string; codeSha256: string; codeSize: number; revisionId: string; lastModified: string; description: string }
export interface Instance { id: string; type: string; state: 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated'; tags: Record<string, string>; protectedFromTermination: boolean; launchTime: string }
export interface Role { name: string; id: string; path: string; createDate: string; attached: string[] }
export interface ManagedPolicy { name: string; arn: string; description: string }
export interface S3Object { key: string; body: Buffer; etag: string; versionId: string; lastModified: Date; contentType: string }

export const taskDefArn = (family: string, revision: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:${revision}`;
export const clusterArn = (cluster: string) => `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${cluster}`;
export const functionArn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
export const roleArn = (role: Role) => `arn:aws:iam::${ACCOUNT}:role${role.path}${role.name}`;

let counter = 0;
export function awsId(prefix: string, length = 17): string {
  counter += 1;
  return prefix + createHash('sha256').update(`${prefix}${counter}${Date.now()}${Math.random()}`).digest('hex').slice(0, length);
}

export class AwsSandboxState {
  taskDefinitions: TaskDefinition[] = [
    { family: 'web', revision: 7, containerDefinitions: [{ name: 'web', image: 'registry.acme.dev/web:1.4.0', essential: true, cpu: 256, memory: 512 }], status: 'ACTIVE', registeredAt: Date.parse('2026-10-01T10:00:00Z') },
    { family: 'web', revision: 8, containerDefinitions: [{ name: 'web', image: 'registry.acme.dev/web:1.4.1', essential: true, cpu: 256, memory: 512 }], status: 'ACTIVE', registeredAt: Date.parse('2026-11-20T10:00:00Z') },
  ];
  clusters = new Set(['production', 'staging']);
  services: EcsService[] = [
    { cluster: 'production', name: 'web', taskDefinition: taskDefArn('web', 8), desiredCount: 3, runningCount: 3, deployments: [{ id: 'ecs-svc/1111111111111111111', status: 'PRIMARY', taskDefinition: taskDefArn('web', 8), createdAt: Date.parse('2026-11-20T10:05:00Z') }] },
    { cluster: 'staging', name: 'web', taskDefinition: taskDefArn('web', 8), desiredCount: 1, runningCount: 1, deployments: [{ id: 'ecs-svc/2222222222222222222', status: 'PRIMARY', taskDefinition: taskDefArn('web', 8), createdAt: Date.parse('2026-11-20T10:01:00Z') }] },
  ];
  functions: LambdaFunction[] = [
    { name: 'thumbnailer', runtime: 'nodejs22.x', handler: 'index.handler', codeSha256: 'n2V5Lq0y8m0xYcT7Tq3pUuYwQ2o9c3u9eGm2b4pQ1aE=', codeSize: 48213, revisionId: 'a1b2c3d4-0000-4000-8000-000000000001', lastModified: '2026-11-02T09:00:00.000+0000', description: 'Resizes uploaded images' },
    { name: 'billing-export', runtime: 'python3.13', handler: 'app.main', codeSha256: 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=', codeSize: 10240, revisionId: 'a1b2c3d4-0000-4000-8000-000000000002', lastModified: '2026-10-15T12:00:00.000+0000', description: 'Nightly billing export' },
  ];
  instances: Instance[] = [
    { id: 'i-0a1b2c3d4e5f60001', type: 't3.small', state: 'running', tags: { Name: 'web-1', environment: 'production' }, protectedFromTermination: true, launchTime: '2026-09-01T08:00:00.000Z' },
    { id: 'i-0a1b2c3d4e5f60002', type: 't3.small', state: 'running', tags: { Name: 'web-2', environment: 'production' }, protectedFromTermination: false, launchTime: '2026-09-01T08:00:00.000Z' },
    { id: 'i-0a1b2c3d4e5f60003', type: 't3.micro', state: 'stopped', tags: { Name: 'scratch', environment: 'dev' }, protectedFromTermination: false, launchTime: '2026-11-10T08:00:00.000Z' },
  ];
  roles: Role[] = [
    { name: 'deployer', id: 'AROAEXAMPLEDEPLOYER01', path: '/', createDate: '2025-06-01T00:00:00Z', attached: ['arn:aws:iam::aws:policy/AmazonECS_FullAccess'] },
    { name: 'analytics', id: 'AROAEXAMPLEANALYTICS1', path: '/service/', createDate: '2025-07-01T00:00:00Z', attached: [] },
  ];
  policies: ManagedPolicy[] = [
    { name: 'AdministratorAccess', arn: 'arn:aws:iam::aws:policy/AdministratorAccess', description: 'Provides full access to AWS services and resources.' },
    { name: 'ReadOnlyAccess', arn: 'arn:aws:iam::aws:policy/ReadOnlyAccess', description: 'Provides read-only access to AWS services and resources.' },
    { name: 'AmazonECS_FullAccess', arn: 'arn:aws:iam::aws:policy/AmazonECS_FullAccess', description: 'Provides administrative access to Amazon ECS resources.' },
    { name: 'AmazonS3ReadOnlyAccess', arn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess', description: 'Provides read only access to all buckets via the AWS Management Console.' },
  ];
  buckets = new Map<string, { versioned: boolean; objects: S3Object[] }>([
    ['acme-assets', { versioned: true, objects: [obj('logo.png', 'PNG logo bytes', 'image/png'), obj('reports/2026-10.csv', 'month,total\n2026-10,1200\n', 'text/csv')] }],
  ]);
  /** Every upstream write that took effect, by operation name (tests assert exactly-once with it). */
  effects: { op: string; target: string }[] = [];

  taskDefinition(ref: string): TaskDefinition | undefined {
    const m = /(?:task-definition\/)?([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(ref);
    if (!m) return undefined;
    const family = this.taskDefinitions.filter((t) => t.family === m[1] && t.status === 'ACTIVE');
    return m[2] ? family.find((t) => t.revision === Number(m[2])) : family.sort((a, b) => b.revision - a.revision)[0];
  }
}

function obj(key: string, text: string, contentType: string): S3Object {
  const body = Buffer.from(text);
  return { key, body, etag: `"${createHash('md5').update(body).digest('hex')}"`, versionId: awsId('v', 32), lastModified: new Date('2026-11-01T00:00:00Z'), contentType };
}
