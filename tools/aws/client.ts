/**
 * The one place that holds AWS credentials: builds the official SDK clients (the standard credential chain and
 * region, or the sandbox's endpoint and keys) and runs every call through error mapping, so tools never see a raw
 * SDK error or a key.
 */
import type * as EC2 from '@aws-sdk/client-ec2';
import type * as ECS from '@aws-sdk/client-ecs';
import type * as IAM from '@aws-sdk/client-iam';
import type * as Lambda from '@aws-sdk/client-lambda';
import type * as S3 from '@aws-sdk/client-s3';
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

/**
 * One service's SDK package and client, loaded on its first call: the packages are large (EC2's alone about 70 MB
 * resident once loaded), and an executor that never calls a service should not hold it. `use` gets both, so a call
 * site builds its command from the package it sends it with: `api.ec2((sdk, client) => client.send(new sdk.X({})))`.
 */
export type Service<Sdk, Client> = <T>(use: (sdk: Sdk, client: Client) => Promise<T>) => Promise<T>;

export interface AwsApi {
  region: string;
  ecs: Service<typeof ECS, ECS.ECSClient>;
  lambda: Service<typeof Lambda, Lambda.LambdaClient>;
  iam: Service<typeof IAM, IAM.IAMClient>;
  ec2: Service<typeof EC2, EC2.EC2Client>;
  s3: Service<typeof S3, S3.S3Client>;
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
    ecs: service('ECS', () => import('@aws-sdk/client-ecs'), (sdk) => new sdk.ECSClient(base)),
    lambda: service('Lambda', () => import('@aws-sdk/client-lambda'), (sdk) => new sdk.LambdaClient(base)),
    iam: service('IAM', () => import('@aws-sdk/client-iam'), (sdk) => new sdk.IAMClient({ ...base, region: options.endpoint ? region : 'us-east-1' })),
    ec2: service('EC2', () => import('@aws-sdk/client-ec2'), (sdk) => new sdk.EC2Client(base)),
    s3: service('S3', () => import('@aws-sdk/client-s3'), (sdk) => new sdk.S3Client({ ...base, forcePathStyle: Boolean(options.endpoint) })),
    async call(what, fn, callOptions = {}) {
      try {
        return plain(await fn());
      } catch (error) {
        throw upstreamError(error, what, { secrets, write: callOptions.write ?? false });
      }
    },
  };
}

/**
 * A service loaded on first use and kept. A package that fails to load is a KernelError, which `call` passes on as
 * it is: nothing was sent, so a write is not `upstream_unknown`; the next call tries the import again.
 */
function service<Sdk, Client>(name: string, load: () => Promise<Sdk>, make: (sdk: Sdk) => Client): Service<Sdk, Client> {
  let loaded: Promise<{ sdk: Sdk; client: Client }> | undefined;
  return async (use) => {
    loaded ??= load().then(
      (sdk) => ({ sdk, client: make(sdk) }),
      (error: unknown) => {
        loaded = undefined;
        throw new KernelError('upstream_error', `could not load the AWS SDK for ${name} (${error instanceof Error ? error.message : String(error)}); reinstall Countersign's dependencies`);
      },
    );
    const { sdk, client } = await loaded;
    return use(sdk, client);
  };
}

/** SDK outputs carry `$metadata`; tools hand out plain JSON only. */
function plain<T>(value: T): T {
  if (value === undefined || value === null || typeof value !== 'object') return value;
  const { $metadata: _drop, ...rest } = value as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v))) as T;
}
