/**
 * The one place that holds AWS credentials: builds the official SDK clients (the standard credential chain and
 * region, or the sandbox's endpoint and keys) and runs every call through error mapping, so tools never see a raw
 * SDK error or a key.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { KernelError } from '../../kernel/index.ts';
import { upstreamError } from './errors.ts';

export interface AwsConnectorOptions {
  /** Region for ECS, Lambda, EC2 and S3 (IAM is global). Default: the SDK's chain (AWS_REGION, ~/.aws/config). */
  region?: string;
  /** Static keys; omitted, the SDK's standard chain (env, SSO, profile, container, instance metadata) is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** One endpoint for every service: the local sandbox's URL. */
  endpoint?: string;
  sandbox: boolean;
}

export interface AwsApi {
  region: string;
  ecs: ECSClient;
  lambda: LambdaClient;
  iam: IAMClient;
  ec2: EC2Client;
  s3: S3Client;
  /**
   * Runs one SDK call; `what` completes "while trying to …". `write: true` marks calls whose effect may have
   * happened when the answer is lost (5xx, network): those fail as `upstream_unknown`, never as a plain failure.
   */
  call<T>(what: string, fn: () => Promise<T>, options?: { write?: boolean }): Promise<T>;
}

export function createAwsApi(options: AwsConnectorOptions): AwsApi {
  if (options.sandbox && !options.endpoint) {
    throw new KernelError('config_error', 'the AWS connector is in sandbox mode but has no endpoint: pass the URL startAwsSandbox() returned');
  }
  if (options.endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(options.endpoint)) {
    throw new KernelError('config_error', `the AWS endpoint must be an origin like https://host:port, got "${options.endpoint}"`);
  }
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new KernelError('config_error', `"${region}" is not an AWS region name (like us-east-1): set connectors.aws.region or AWS_REGION`);
  }
  const base = {
    region,
    maxAttempts: 1,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const secrets = [options.credentials?.secretAccessKey, options.credentials?.sessionToken].filter((s): s is string => Boolean(s));
  return {
    region,
    ecs: new ECSClient(base),
    lambda: new LambdaClient(base),
    iam: new IAMClient({ ...base, region: options.endpoint ? region : 'us-east-1' }),
    ec2: new EC2Client(base),
    s3: new S3Client({ ...base, forcePathStyle: Boolean(options.endpoint) }),
    async call(what, fn, callOptions = {}) {
      try {
        return plain(await fn());
      } catch (error) {
        throw upstreamError(error, what, { secrets, write: callOptions.write ?? false });
      }
    },
  };
}

/** SDK outputs carry `$metadata`; tools hand out plain JSON only. */
function plain<T>(value: T): T {
  if (value === undefined || value === null || typeof value !== 'object') return value;
  const { $metadata: _drop, ...rest } = value as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v))) as T;
}
