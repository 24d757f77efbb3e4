import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema, type JsonObject } from '../../kernel/index.ts';
import { createAwsConnector } from '../../tools/aws/index.ts';
import { startAwsSandbox, type AwsSandbox } from '../../tools/aws/sandbox/index.ts';
import { taskDefArn } from '../../tools/aws/sandbox/state.ts';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';

/**
 * AWS behind the real kernel with the example policy: reads run at once, production deploys wait for two maintainers,
 * AWS admin grants are refused, other writes wait for the owner. Every call goes through the official SDK to a
 * sandbox that verifies its SigV4 signature; pins refuse execution when AWS moved after approval.
 */

let stack: Stack;
let aws: AwsSandbox;
let agentId: string;
let owner: TestApprover;
let maintainers: TestApprover[];

beforeAll(async () => {
  aws = await startAwsSandbox({ credentials: { accessKeyId: 'AKIAFLOWSUITE0000001', secretAccessKey: 'flow-suite-secret-key/0000000000000000000' } });
  const connector = createAwsConnector({ region: aws.region, credentials: aws.credentials, endpoint: aws.url, sandbox: true });
  stack = await startStack({ config: EXAMPLE_CONFIG, connectors: [connector] });
  ({ agentId } = await stack.addAgent('ops-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
  // The example config's roles start empty: the operator grants them (approver grant), as the README says.
  maintainers = await Promise.all(['bo@example.com', 'chen@example.com'].map((email) => stack.enrollApprover(email, ['maintainers'])));
});
afterAll(async () => {
  await stack?.close();
  await aws?.close();
});

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);
const awaitFinal = (id: string) => stack.awaitRequest(agentId, id);
const effects = (op: string) => aws.state.effects.filter((e) => e.op === op);

describe('AWS through the kernel', () => {
  it('reads ECS services and Lambda functions at once, signed with SigV4', async () => {
    const view = await submit('aws_ecs_describe_services', { cluster: 'production', services: ['web'] });
    expect(view.state).toBe('succeeded');
    expect(view.result?.data).toMatchObject({ services: [{ serviceName: 'web', taskDefinition: taskDefArn('web', 8), runningCount: 3 }] });
    const functions = await submit('aws_lambda_list_functions', {});
    expect(functions.state).toBe('succeeded');
    expect(functions.result?.text).toContain('thumbnailer');
    expect(aws.received.at(-1)?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFLOWSUITE0000001\/\d{8}\/us-east-1\/lambda\/aws4_request/);
  });

  it('holds a production deploy for two maintainers, then registers one revision and updates the service once', async () => {
    const view = await submit('aws_ecs_deploy', { cluster: 'production', service: 'web', image: 'registry.acme.dev/web:1.4.2' });
    expect(view.state).toBe('pending');
    expect(view.verdict).toMatchObject({ ruleId: 'production-deploys', approvers: { role: 'maintainers', count: 2 } });
    expect(view.intent.summary).toBe('Deploy image registry.acme.dev/web:1.4.2 to ECS service web in cluster production (now web:8, 3 of 3 tasks running)');
    expect(view.intent).toMatchObject({ consequence: 'deploys', reversible: true, pins: { task_definition: taskDefArn('web', 8), image: 'registry.acme.dev/web:1.4.1' } });
    await stack.decide(maintainers[0]!, view.id, 'approve');
    await stack.decide(maintainers[1]!, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('succeeded');
    expect(effects('ecs.RegisterTaskDefinition')).toHaveLength(1);
    expect(effects('ecs.UpdateService')).toHaveLength(1);
    expect(aws.state.services.find((s) => s.cluster === 'production')!.taskDefinition).toBe(taskDefArn('web', 9));
    expect(aws.state.taskDefinition('web:9')!.containerDefinitions[0]!.image).toBe('registry.acme.dev/web:1.4.2');
  });

  it('refuses a deploy approved against a revision that another deploy replaced meanwhile', async () => {
    const view = await submit('aws_ecs_deploy', { cluster: 'staging', service: 'web', task_definition: 'web:7' });
    expect(view.state).toBe('pending');
    expect(view.verdict.ruleId).toBeNull(); // staging: the default, the owner approves
    aws.state.services.find((s) => s.cluster === 'staging')!.taskDefinition = taskDefArn('web', 9);
    const updates = effects('ecs.UpdateService').length;
    await stack.decide(owner, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'pin_drift' });
    expect(final.error?.message).toContain(`task_definition was "${taskDefArn('web', 8)}", now "${taskDefArn('web', 9)}"`);
    expect(effects('ecs.UpdateService')).toHaveLength(updates);
  });

  it('refuses AWS admin grants by policy and attaches a narrower policy once approved', async () => {
    await expect(submit('aws_iam_attach_role_policy', { role_name: 'deployer', policy_arn: 'arn:aws:iam::aws:policy/AdministratorAccess' }))
      .resolves.toMatchObject({ state: 'denied', verdict: { ruleId: 'no-aws-admin' } });
    const view = await submit('aws_iam_attach_role_policy', { role_name: 'analytics', policy_arn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess' });
    expect(view.intent).toMatchObject({ consequence: 'grants-access', summary: 'Grant IAM role analytics the managed policy AmazonS3ReadOnlyAccess' });
    // The policy's description is AWS's text: a labelled field, never part of the sentence.
    expect(view.intent.fields).toContainEqual({ label: 'Policy description', kind: 'text', writtenBy: { on: 'AWS', by: null }, value: 'Provides read only access to all buckets via the AWS Management Console.' });
    await stack.decide(owner, view.id, 'approve');
    expect((await awaitFinal(view.id)).state).toBe('succeeded');
    expect(aws.state.roles.find((r) => r.name === 'analytics')!.attached).toEqual(['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess']);
    expect(effects('iam.AttachRolePolicy')).toHaveLength(1);
  });

  it('says before approval that a protected instance cannot be terminated, and terminates an unprotected one', async () => {
    await expect(submit('aws_ec2_terminate_instances', { instance_ids: ['i-0a1b2c3d4e5f60001'] })).rejects.toThrow(/termination protection on/);
    const view = await submit('aws_ec2_terminate_instances', { instance_ids: ['i-0a1b2c3d4e5f60002'] });
    expect(view.intent.summary).toBe('Terminate EC2 instance i-0a1b2c3d4e5f60002 in us-east-1 (1 running); their local data is lost for good');
    expect(view.intent).toMatchObject({ consequence: 'deletes', reversible: false });
    expect(view.intent.fields).toContainEqual({ label: 'Name tag of i-0a1b2c3d4e5f60002', kind: 'text', value: 'web-2', writtenBy: { on: 'AWS', by: null } });
    await stack.decide(owner, view.id, 'approve');
    expect((await awaitFinal(view.id)).state).toBe('succeeded');
    expect(effects('ec2.TerminateInstances')).toEqual([{ op: 'ec2.TerminateInstances', target: 'i-0a1b2c3d4e5f60002' }]);
  });

  it('sends the approved RevisionId with a Lambda code update (Lambda itself refuses it once anything changed)', async () => {
    const ok = await submit('aws_lambda_update_function_code', { function_name: 'thumbnailer', s3_bucket: 'acme-assets', s3_key: 'builds/thumbnailer-2.zip' });
    expect(ok.intent.pins).toMatchObject({ revision_id: 'a1b2c3d4-0000-4000-8000-000000000001' });
    await stack.decide(owner, ok.id, 'approve');
    expect((await awaitFinal(ok.id)).state).toBe('succeeded');
    const sent = aws.received.filter((r) => r.method === 'PUT' && r.path.endsWith('/code')).at(-1)!;
    expect(JSON.parse(sent.body)).toMatchObject({ RevisionId: 'a1b2c3d4-0000-4000-8000-000000000001', S3Bucket: 'acme-assets' });
    expect(effects('lambda.UpdateFunctionCode')).toHaveLength(1);
  });

  it('deletes an S3 object with If-Match on the approved ETag, and says a versioned bucket keeps it recoverable', async () => {
    const view = await submit('aws_s3_delete_object', { bucket: 'acme-assets', key: 'logo.png' });
    expect(view.intent.summary).toBe('Delete S3 object s3://acme-assets/logo.png (14 bytes); the bucket keeps versions, so it stays recoverable');
    await stack.decide(owner, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('succeeded');
    expect(final.result?.data).toMatchObject({ delete_marker: true });
    const del = aws.received.filter((r) => r.method === 'DELETE').at(-1)!;
    expect(del.headers['if-match']).toBe(String(view.intent.pins.etag));
    await expect(submit('aws_s3_delete_object', { bucket: 'acme-assets', key: 'logo.png' })).rejects.toThrow(/there is no object s3:\/\/acme-assets\/logo.png/);
  });

  it('maps AccessDenied and throttling to errors that say what to do', async () => {
    aws.failNext({ service: 'ecs', status: 400, code: 'AccessDeniedException', message: 'User is not authorized to perform: ecs:DescribeServices' });
    const denied = await submit('aws_ecs_describe_services', { cluster: 'production', services: ['web'] });
    expect(denied.state).toBe('failed');
    expect(denied.error?.message).toMatch(/AWS refused to describe ECS services in cluster production \(400 AccessDeniedException: User is not authorized.*Grant the credentials/);
    aws.failNext({ service: 'lambda', status: 429, code: 'TooManyRequestsException', message: 'Rate exceeded' });
    const throttled = await submit('aws_lambda_list_functions', {});
    expect(throttled.error?.message).toMatch(/AWS throttled the request to list Lambda functions \(429 TooManyRequestsException\)\. Nothing was changed/);
  });

  it('keeps the AWS secret key out of every result, error, audit entry and request row', async () => {
    await stack.services.audit.sync();
    const entries = await stack.services.database.db.select().from(schema.auditEntries);
    const requests = await stack.services.database.db.select().from(schema.requests);
    const everything = JSON.stringify([entries, requests]);
    expect(everything).not.toContain(aws.credentials.secretAccessKey);
    expect(everything).not.toContain('flow-suite-secret');
  });
});
