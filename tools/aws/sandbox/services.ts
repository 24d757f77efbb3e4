/**
 * The five services the AWS connector uses, each in its own protocol: ECS (awsJson1_1), Lambda (restJson1), IAM
 * (awsQuery), EC2 (ec2Query) and S3 (restXml). Only the operations the tools call; unknown ones answer as AWS does.
 */
import { createHash } from 'node:crypto';
import {
  ACCOUNT, REGION, awsId, clusterArn, functionArn, roleArn, taskDefArn,
  type AwsSandboxState, type EcsService, type Instance, type LambdaFunction, type TaskDefinition,
} from './state.ts';
import {
  AwsFault, ec2Error, ec2Reply, jsonProtocolError, jsonProtocolReply, listParam, queryError, queryReply, restJsonError, restJsonReply,
  s3Error, tags, type Reply,
} from './wire.ts';

export interface Incoming {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
}

type Handler = (req: Incoming, state: AwsSandboxState) => Reply;

// ---------- ECS (awsJson1_1: POST / with X-Amz-Target) ----------

function ecsService(s: EcsService) {
  return {
    serviceArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${s.cluster}/${s.name}`, serviceName: s.name, clusterArn: clusterArn(s.cluster),
    status: 'ACTIVE', desiredCount: s.desiredCount, runningCount: s.runningCount, pendingCount: 0, launchType: 'FARGATE', taskDefinition: s.taskDefinition,
    deployments: s.deployments.map((d) => ({ id: d.id, status: d.status, taskDefinition: d.taskDefinition, desiredCount: s.desiredCount, runningCount: d.status === 'PRIMARY' ? s.runningCount : 0, createdAt: d.createdAt / 1000, updatedAt: d.createdAt / 1000, rolloutState: d.status === 'PRIMARY' ? 'IN_PROGRESS' : 'COMPLETED' })),
    createdAt: Date.parse('2025-01-01T00:00:00Z') / 1000,
  };
}
function taskDefinitionJson(t: TaskDefinition) {
  return { taskDefinitionArn: taskDefArn(t.family, t.revision), family: t.family, revision: t.revision, containerDefinitions: t.containerDefinitions, status: t.status, requiresCompatibilities: ['FARGATE'], networkMode: 'awsvpc', cpu: '256', memory: '512', registeredAt: t.registeredAt / 1000 };
}

const ecs: Handler = (req, state) => {
  try {
    if (req.method !== 'POST') throw new AwsFault(400, 'UnknownOperationException', 'ECS takes POST /');
    const op = /^AmazonEC2ContainerServiceV20141113\.(\w+)$/.exec(req.headers['x-amz-target'] ?? '')?.[1];
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(req.body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      throw new AwsFault(400, 'SerializationException', 'Request body is not valid JSON');
    }
    const clusterName = String(input.cluster ?? 'default').replace(/^arn:aws:ecs:[^:]+:\d+:cluster\//, '');
    const needCluster = () => {
      if (!state.clusters.has(clusterName)) throw new AwsFault(400, 'ClusterNotFoundException', 'Cluster not found.');
    };
    switch (op) {
      case 'DescribeServices': {
        needCluster();
        const names = (input.services as string[] | undefined) ?? [];
        if (names.length === 0 || names.length > 10) throw new AwsFault(400, 'InvalidParameterException', 'services must name 1 to 10 services.');
        const found = names.map((n) => state.services.find((s) => s.cluster === clusterName && s.name === n.replace(/^.*\//, '')));
        return jsonProtocolReply({
          services: found.filter(Boolean).map((s) => ecsService(s!)),
          failures: names.filter((_, i) => !found[i]).map((n) => ({ arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${clusterName}/${n}`, reason: 'MISSING' })),
        });
      }
      case 'DescribeTaskDefinition': {
        const t = state.taskDefinition(String(input.taskDefinition ?? ''));
        if (!t) throw new AwsFault(400, 'ClientException', 'Unable to describe task definition.');
        return jsonProtocolReply({ taskDefinition: taskDefinitionJson(t), tags: [] });
      }
      case 'RegisterTaskDefinition': {
        const family = String(input.family ?? '');
        const containers = input.containerDefinitions as TaskDefinition['containerDefinitions'] | undefined;
        if (!/^[A-Za-z0-9_-]{1,255}$/.test(family) || !Array.isArray(containers) || containers.length === 0) {
          throw new AwsFault(400, 'ClientException', 'Family and containerDefinitions are required.');
        }
        const revision = Math.max(0, ...state.taskDefinitions.filter((t) => t.family === family).map((t) => t.revision)) + 1;
        const t: TaskDefinition = { family, revision, containerDefinitions: containers, status: 'ACTIVE', registeredAt: Date.now() };
        state.taskDefinitions.push(t);
        state.effects.push({ op: 'ecs.RegisterTaskDefinition', target: taskDefArn(family, revision) });
        return jsonProtocolReply({ taskDefinition: taskDefinitionJson(t), tags: [] });
      }
      case 'UpdateService': {
        needCluster();
        const s = state.services.find((x) => x.cluster === clusterName && x.name === String(input.service ?? '').replace(/^.*\//, ''));
        if (!s) throw new AwsFault(400, 'ServiceNotFoundException', 'Service not found.');
        if (input.taskDefinition !== undefined) {
          const t = state.taskDefinition(String(input.taskDefinition));
          if (!t) throw new AwsFault(400, 'ClientException', 'TaskDefinition not found.');
          s.taskDefinition = taskDefArn(t.family, t.revision);
          for (const d of s.deployments) d.status = 'ACTIVE';
          s.deployments.unshift({ id: `ecs-svc/${awsId('', 19).replace(/[a-f]/g, '7')}`, status: 'PRIMARY', taskDefinition: s.taskDefinition, createdAt: Date.now() });
        }
        state.effects.push({ op: 'ecs.UpdateService', target: `${clusterName}/${s.name}` });
        return jsonProtocolReply({ service: ecsService(s) });
      }
      default:
        throw new AwsFault(400, 'UnknownOperationException', `The sandbox does not implement ECS operation ${op ?? '(none)'}.`);
    }
  } catch (error) {
    return jsonProtocolError(asFault(error));
  }
};

// ---------- Lambda (restJson1) ----------

function lambdaConfig(f: LambdaFunction) {
  return {
    FunctionName: f.name, FunctionArn: functionArn(f.name), Runtime: f.runtime, Handler: f.handler, CodeSha256: f.codeSha256, CodeSize: f.codeSize,
    Description: f.description, LastModified: f.lastModified, Version: '$LATEST', RevisionId: f.revisionId, State: 'Active', LastUpdateStatus: 'Successful',
    PackageType: 'Zip', Role: `arn:aws:iam::${ACCOUNT}:role/lambda-${f.name}`, Timeout: 30, MemorySize: 512,
  };
}

const lambda: Handler = (req, state) => {
  try {
    const m = /^\/2015-03-31\/functions\/?([^/]*)(?:\/(code|configuration))?\/?$/.exec(req.path);
    if (!m) throw new AwsFault(404, 'UnknownOperationException', `No Lambda operation at ${req.method} ${req.path}.`);
    const name = decodeURIComponent(m[1] ?? '').replace(/^arn:aws:lambda:[^:]+:\d+:function:/, '');
    if (name === '' && req.method === 'GET') {
      const max = Math.min(Number(req.query.get('MaxItems') ?? 50) || 50, 50);
      const start = Number(req.query.get('Marker') ?? 0) || 0;
      const page = state.functions.slice(start, start + max);
      const next = start + max < state.functions.length ? String(start + max) : undefined;
      return restJsonReply({ Functions: page.map(lambdaConfig), ...(next ? { NextMarker: next } : {}) });
    }
    const f = state.functions.find((x) => x.name === name);
    if (!f) throw new AwsFault(404, 'ResourceNotFoundException', `Function not found: ${functionArn(name)}`);
    if (req.method === 'GET' && m[2] === undefined) return restJsonReply({ Configuration: lambdaConfig(f), Code: { RepositoryType: 'S3', Location: `https://awslambda-${REGION}-tasks.s3.${REGION}.amazonaws.com/snapshots/${ACCOUNT}/${f.name}` } });
    if (req.method === 'GET' && m[2] === 'configuration') return restJsonReply(lambdaConfig(f));
    if (req.method === 'PUT' && m[2] === 'code') {
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(req.body.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        throw new AwsFault(400, 'InvalidRequestContentException', 'Could not parse request body into json.');
      }
      if (input.RevisionId !== undefined && input.RevisionId !== f.revisionId) {
        throw new AwsFault(412, 'PreconditionFailedException', 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id');
      }
      const code = typeof input.ZipFile === 'string' ? Buffer.from(input.ZipFile, 'base64')
        : typeof input.S3Bucket === 'string' && typeof input.S3Key === 'string' ? Buffer.from(`s3://${input.S3Bucket}/${input.S3Key}${input.S3ObjectVersion ? `?v=${String(input.S3ObjectVersion)}` : ''}`)
        : typeof input.ImageUri === 'string' ? Buffer.from(input.ImageUri) : null;
      if (!code) throw new AwsFault(400, 'InvalidParameterValueException', 'Please provide a source for function code (ZipFile, S3Bucket and S3Key, or ImageUri).');
      f.codeSha256 = createHash('sha256').update(code).digest('base64');
      f.codeSize = code.length;
      f.revisionId = crypto.randomUUID();
      f.lastModified = new Date().toISOString().replace('Z', '+0000');
      state.effects.push({ op: 'lambda.UpdateFunctionCode', target: f.name });
      return restJsonReply(lambdaConfig(f));
    }
    throw new AwsFault(405, 'UnknownOperationException', `No Lambda operation at ${req.method} ${req.path}.`);
  } catch (error) {
    return restJsonError(asFault(error));
  }
};

// ---------- IAM (awsQuery: form-encoded POST) ----------

const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/';

const iam: Handler = (req, state) => {
  try {
    const params = new URLSearchParams(req.body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const role = () => {
      const name = params.get('RoleName') ?? '';
      const found = state.roles.find((r) => r.name === name);
      if (!found) throw new AwsFault(404, 'NoSuchEntity', `The role with name ${name} cannot be found.`);
      return found;
    };
    const policy = (arn: string) => {
      const found = state.policies.find((p) => p.arn === arn);
      if (!found) throw new AwsFault(404, 'NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
      return found;
    };
    switch (action) {
      case 'GetRole': {
        const r = role();
        return queryReply(action, `<Role>${tags({ Path: r.path, RoleName: r.name, RoleId: r.id, Arn: roleArn(r), CreateDate: r.createDate, MaxSessionDuration: 3600 })}</Role>`, IAM_NS);
      }
      case 'ListAttachedRolePolicies': {
        const r = role();
        const members = r.attached.map((arn) => `<member>${tags({ PolicyName: policy(arn).name, PolicyArn: arn })}</member>`).join('');
        return queryReply(action, `<AttachedPolicies>${members}</AttachedPolicies><IsTruncated>false</IsTruncated>`, IAM_NS);
      }
      case 'GetPolicy': {
        const p = policy(params.get('PolicyArn') ?? '');
        const count = state.roles.filter((r) => r.attached.includes(p.arn)).length;
        return queryReply(action, `<Policy>${tags({ PolicyName: p.name, Arn: p.arn, Path: '/', DefaultVersionId: 'v1', AttachmentCount: count, IsAttachable: true, Description: p.description })}</Policy>`, IAM_NS);
      }
      case 'AttachRolePolicy': {
        const r = role();
        const p = policy(params.get('PolicyArn') ?? '');
        if (!r.attached.includes(p.arn)) {
          r.attached.push(p.arn);
          state.effects.push({ op: 'iam.AttachRolePolicy', target: `${r.name} ${p.arn}` });
        }
        return queryReply(action, '', IAM_NS);
      }
      default:
        throw new AwsFault(400, 'InvalidAction', `The action ${action || '(none)'} is not valid for this web service.`);
    }
  } catch (error) {
    return queryError(asFault(error), IAM_NS);
  }
};

// ---------- EC2 (ec2Query) ----------

const STATE_CODES: Record<Instance['state'], number> = { running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };
const stateXml = (s: Instance['state']) => `<code>${STATE_CODES[s]}</code><name>${s}</name>`;

const ec2: Handler = (req, state) => {
  try {
    const params = new URLSearchParams(req.body.toString('utf8'));
    const action = params.get('Action') ?? '';
    const ids = listParam(params, 'InstanceId');
    const pick = (list: string[]) => list.map((id) => {
      const found = state.instances.find((i) => i.id === id);
      if (!found) throw new AwsFault(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      return found;
    });
    switch (action) {
      case 'DescribeInstances': {
        const chosen = ids.length ? pick(ids) : state.instances;
        const items = chosen.map((i) => `<item>${tags({ instanceId: i.id, imageId: 'ami-0abcdef1234567890', instanceType: i.type, launchTime: i.launchTime })}` +
          `<instanceState>${stateXml(i.state)}</instanceState><tagSet>${Object.entries(i.tags).map(([k, v]) => `<item>${tags({ key: k, value: v })}</item>`).join('')}</tagSet></item>`).join('');
        return ec2Reply(action, `<reservationSet><item><reservationId>r-0123456789abcdef0</reservationId><ownerId>${ACCOUNT}</ownerId><instancesSet>${items}</instancesSet></item></reservationSet>`);
      }
      case 'DescribeInstanceAttribute': {
        const [i] = pick([params.get('InstanceId') ?? '']);
        if (params.get('Attribute') !== 'disableApiTermination') throw new AwsFault(400, 'InvalidParameterValue', 'The sandbox answers only the disableApiTermination attribute.');
        return ec2Reply(action, `<instanceId>${i!.id}</instanceId><disableApiTermination><value>${i!.protectedFromTermination}</value></disableApiTermination>`);
      }
      case 'StopInstances':
      case 'TerminateInstances': {
        const chosen = pick(ids);
        if (action === 'TerminateInstances') {
          const locked = chosen.find((i) => i.protectedFromTermination);
          if (locked) throw new AwsFault(400, 'OperationNotPermitted', `The instance '${locked.id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`);
        }
        const items = chosen.map((i) => {
          const previous = i.state;
          if (action === 'StopInstances' && (previous === 'running')) i.state = 'stopping';
          if (action === 'TerminateInstances' && previous !== 'terminated') i.state = 'shutting-down';
          if (i.state !== previous) state.effects.push({ op: `ec2.${action}`, target: i.id });
          return `<item><instanceId>${i.id}</instanceId><currentState>${stateXml(i.state)}</currentState><previousState>${stateXml(previous)}</previousState></item>`;
        }).join('');
        return ec2Reply(action, `<instancesSet>${items}</instancesSet>`);
      }
      default:
        throw new AwsFault(400, 'InvalidAction', `The action ${action || '(none)'} is not valid for this web service.`);
    }
  } catch (error) {
    return ec2Error(asFault(error));
  }
};

// ---------- S3 (restXml, path-style) ----------

const s3: Handler = (req, state) => {
  const [, bucketName = '', ...rest] = req.path.split('/');
  const key = decodeURIComponent(rest.join('/'));
  try {
    const bucket = state.buckets.get(decodeURIComponent(bucketName));
    if (!bucket) throw new AwsFault(404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (req.method === 'GET' && rest.join('/') === '' && req.query.has('versioning')) {
      const status = bucket.versioned ? '<Status>Enabled</Status>' : '';
      return { status: 200, headers: { 'content-type': 'application/xml' }, body: `<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${status}</VersioningConfiguration>` };
    }
    const versionId = req.query.get('versionId');
    const current = bucket.objects.find((o) => o.key === key);
    if (req.method === 'HEAD') {
      const o = versionId ? bucket.objects.find((x) => x.key === key && x.versionId === versionId) : current;
      if (!o) throw new AwsFault(404, 'NotFound', 'Not Found');
      return {
        status: 200,
        headers: { 'content-length': String(o.body.length), 'content-type': o.contentType, etag: o.etag, 'last-modified': o.lastModified.toUTCString(), 'x-amz-version-id': o.versionId, 'accept-ranges': 'bytes' },
        body: null,
      };
    }
    if (req.method === 'DELETE' && key !== '') {
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && (!current || current.etag !== ifMatch)) throw new AwsFault(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      // S3 answers 204 whether or not the key existed; a versioned bucket gets a delete marker.
      const gone = versionId ? bucket.objects.find((x) => x.key === key && x.versionId === versionId) : current;
      if (gone) {
        bucket.objects = bucket.objects.filter((x) => x !== gone);
        state.effects.push({ op: 's3.DeleteObject', target: `${bucketName}/${key}` });
      }
      const headers: Record<string, string> = {};
      if (bucket.versioned && !versionId) Object.assign(headers, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': awsId('dm', 30) });
      if (versionId) headers['x-amz-version-id'] = versionId;
      return { status: 204, headers, body: null };
    }
    throw new AwsFault(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
  } catch (error) {
    return s3Error(asFault(error), req.method, req.path);
  }
};

export const SERVICES: Record<string, { handle: Handler; fail: (fault: AwsFault, req: Incoming) => Reply }> = {
  ecs: { handle: ecs, fail: (f) => jsonProtocolError(f) },
  lambda: { handle: lambda, fail: (f) => restJsonError(f) },
  iam: { handle: iam, fail: (f) => queryError(f, IAM_NS) },
  ec2: { handle: ec2, fail: (f) => ec2Error(f) },
  s3: { handle: s3, fail: (f, req) => s3Error(f, req.method, req.path) },
};

function asFault(error: unknown): AwsFault {
  return error instanceof AwsFault ? error : new AwsFault(500, 'InternalFailure', `sandbox error: ${(error as Error).message}`);
}
