/**
 * The AWS connector over the official `@aws-sdk/client-*` packages: ECS, Lambda, IAM, EC2 and S3. Credentials come
 * from the SDK's standard chain (or the sandbox's keys) and live only in the clients built by `client.ts`.
 * @example
 * const aws = await startAwsSandbox();
 * const connector = createAwsConnector({ endpoint: aws.url, region: aws.region, credentials: aws.credentials, sandbox: true });
 */
import type { Connector } from '../spec.ts';
import { createAwsApi, type AwsConnectorOptions } from './client.ts';
import { ec2Tools } from './ec2.ts';
import { ecsTools } from './ecs.ts';
import { iamTools } from './iam.ts';
import { lambdaTools } from './lambda.ts';
import { s3Tools } from './s3.ts';

export type { AwsConnectorOptions } from './client.ts';

export function createAwsConnector(options: AwsConnectorOptions): Connector {
  const api = createAwsApi(options);
  return { name: 'aws', sandbox: options.sandbox, tools: [...ecsTools(api), ...lambdaTools(api), ...iamTools(api), ...ec2Tools(api), ...s3Tools(api)] };
}

/** True when the environment gives the SDK's standard chain something to use; otherwise the connector runs its sandbox. */
export function awsCredentialsConfigured(env: NodeJS.ProcessEnv): boolean {
  return ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'].some((k) => Boolean(env[k]));
}
