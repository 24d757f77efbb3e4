import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECSClient, DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { LambdaClient, UpdateFunctionCodeCommand } from '@aws-sdk/client-lambda';
import { S3Client, HeadObjectCommand } from '@aws-sdk/client-s3';
import { KernelError } from '../../kernel/index.ts';
import { startAwsSandbox, type AwsSandbox } from '../../tools/aws/sandbox/index.ts';
import { createAwsConnector } from '../../tools/aws/index.ts';
import { upstreamError } from '../../tools/aws/errors.ts';

/** The AWS sandbox is only a faithful stand-in if it refuses what AWS refuses: unsigned, mis-signed or altered requests. */

let aws: AwsSandbox;
beforeAll(async () => {
  aws = await startAwsSandbox();
});
afterAll(() => aws.close());

const config = () => ({ region: aws.region, endpoint: aws.url, credentials: aws.credentials, maxAttempts: 1 });

describe('AWS sandbox: SigV4', () => {
  it('answers a request signed by its credentials', async () => {
    const out = await new ECSClient(config()).send(new DescribeServicesCommand({ cluster: 'production', services: ['web'] }));
    expect(out.services?.[0]?.serviceName).toBe('web');
  });

  it('refuses a wrong secret key with SignatureDoesNotMatch', async () => {
    const client = new ECSClient({ ...config(), credentials: { ...aws.credentials, secretAccessKey: 'not-the-secret' } });
    await expect(client.send(new DescribeServicesCommand({ cluster: 'production', services: ['web'] }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
  });

  it('refuses an unknown access key id', async () => {
    const client = new ECSClient({ ...config(), credentials: { ...aws.credentials, accessKeyId: 'AKIAUNKNOWN000000000' } });
    await expect(client.send(new DescribeServicesCommand({ cluster: 'production', services: ['web'] }))).rejects.toMatchObject({ name: 'InvalidClientTokenId' });
  });

  it('refuses a body changed after signing', async () => {
    const client = new LambdaClient(config());
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown };
        request.body = Buffer.from(String(request.body).replace('acme-assets', 'evil-bucket'));
        return next(args);
      },
      { step: 'deserialize', name: 'tamperAfterSigning' },
    );
    await expect(client.send(new UpdateFunctionCodeCommand({ FunctionName: 'thumbnailer', S3Bucket: 'acme-assets', S3Key: 'x.zip' })))
      .rejects.toMatchObject({ name: 'XAmzContentSHA256Mismatch' });
    expect(aws.state.effects).toEqual([]);
  });

  it('refuses a body hash header changed to match a changed body (the signature covers the header)', async () => {
    const client = new LambdaClient(config());
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown; headers: Record<string, string> };
        const body = Buffer.from(String(request.body).replace('acme-assets', 'evil-bucket'));
        request.body = body;
        request.headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
        return next(args);
      },
      { step: 'deserialize', name: 'tamperBodyAndHash' },
    );
    await expect(client.send(new UpdateFunctionCodeCommand({ FunctionName: 'thumbnailer', S3Bucket: 'acme-assets', S3Key: 'x.zip' })))
      .rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    expect(aws.state.effects).toEqual([]);
  });

  it('verifies S3 paths with characters that need escaping', async () => {
    const client = new S3Client({ ...config(), forcePathStyle: true });
    await expect(client.send(new HeadObjectCommand({ Bucket: 'acme-assets', Key: 'reports/2026 10 (copy) é+ü.csv' }))).rejects.toMatchObject({ name: 'NotFound' });
    await expect(client.send(new HeadObjectCommand({ Bucket: 'acme-assets', Key: 'reports/2026-10.csv' }))).resolves.toMatchObject({ ContentLength: 25 });
  });

  it('refuses a Lambda update whose RevisionId is stale with 412, which the connector calls a change since approval', async () => {
    const error = await new LambdaClient(config()).send(new UpdateFunctionCodeCommand({ FunctionName: 'thumbnailer', ImageUri: 'web:1', RevisionId: 'stale' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PreconditionFailedException', $metadata: { httpStatusCode: 412 } });
    expect(upstreamError(error, 'update the code of Lambda function thumbnailer').message).toMatch(/because the resource changed since it was approved \(412 PreconditionFailedException/);
  });
});

describe('AWS connector errors', () => {
  it('scrubs access keys and the secret from messages, and calls a lost write answer unknown', () => {
    const lost = Object.assign(new Error('socket hang up near AKIAABCDEFGHIJKLMNOP with s3cr3t-value-123'), { name: 'TimeoutError' });
    const e = upstreamError(lost, 'stop EC2 instances i-1', { secrets: ['s3cr3t-value-123'], write: true });
    expect(e).toBeInstanceOf(KernelError);
    expect(e.code).toBe('upstream_unknown');
    expect(e.message).not.toContain('AKIAABCDEFGHIJKLMNOP');
    expect(e.message).not.toContain('s3cr3t-value-123');
    expect(upstreamError(lost, 'describe EC2 instances i-1').code).toBe('upstream_error');
  });

  it('refuses a sandbox connector without an endpoint and a malformed region', () => {
    expect(() => createAwsConnector({ sandbox: true })).toThrow(/sandbox mode but has no endpoint/);
    expect(() => createAwsConnector({ sandbox: false, region: 'Mars-1' })).toThrow(/is not an AWS region name/);
  });
});
