/**
 * Lambda: list functions, and replace a function's code. The update is pinned to the code's SHA-256 and sent with
 * the approved RevisionId, so Lambda itself refuses it if the function changed after approval.
 */
import type { FunctionConfiguration } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { AwsApi } from './client.ts';
import { bucketName, bytes, functionName, imageRef, objectKey } from './names.ts';

function trim(f: FunctionConfiguration): JsonObject {
  return {
    FunctionName: f.FunctionName ?? null, FunctionArn: f.FunctionArn ?? null, Runtime: f.Runtime ?? null, CodeSha256: f.CodeSha256 ?? null,
    CodeSize: f.CodeSize ?? null, LastModified: f.LastModified ?? null, RevisionId: f.RevisionId ?? null, State: f.State ?? null,
  };
}

export function lambdaTools(api: AwsApi): ToolSpec[] {
  const list = defineTool({
    name: 'aws_lambda_list_functions',
    title: 'List Lambda functions',
    description: 'List the Lambda functions of the configured region (name, runtime, code hash and size, last modified). Paginated by marker.',
    input: z.object({
      marker: z.string().max(1024).optional().describe('next_marker of the previous page; omit for the first page'),
      max_items: z.number().int().min(1).max(50).optional().describe('Page size, 1 to 50'),
    }),
    impact: 'read',
    consequence: 'reads',
    async describe(): Promise<Described> {
      return { summary: `List Lambda functions in ${api.region}`, consequence: 'reads', reversible: true, fields: [{ label: 'Region', kind: 'environment', value: api.region }], pins: {} };
    },
    async execute(a) {
      const out = await api.call('list Lambda functions', () => api.lambda((sdk, client) => client.send(new sdk.ListFunctionsCommand({ Marker: a.marker, MaxItems: a.max_items ?? 50 }))));
      const functions = (out.Functions ?? []).map(trim);
      return {
        data: { functions, next_marker: out.NextMarker ?? null },
        text: [`${functions.length} Lambda function(s) in ${api.region}${out.NextMarker ? ` (more: marker ${out.NextMarker})` : ''}`, ...functions.map((f) => `${String(f.FunctionName)} (${String(f.Runtime)}, ${bytes(Number(f.CodeSize))})`)].join('\n'),
      };
    },
  });

  const input = z
    .object({
      function_name: functionName.describe('The Lambda function (name or ARN)'),
      s3_bucket: bucketName.optional().describe('Bucket of the new .zip (with s3_key)'),
      s3_key: objectKey.optional().describe('Key of the new .zip in s3_bucket'),
      s3_object_version: z.string().max(1024).optional().describe('Version of that S3 object, in a versioned bucket'),
      image_uri: imageRef.optional().describe('A container image to run instead of a .zip'),
    })
    .refine((a) => (a.image_uri !== undefined) !== (a.s3_bucket !== undefined && a.s3_key !== undefined), {
      message: 'pass either s3_bucket and s3_key (a .zip in S3) or image_uri (a container image)',
      path: ['s3_bucket'],
    });

  const config = (name: string) => api.call(`read Lambda function ${name}`, () => api.lambda((sdk, client) => client.send(new sdk.GetFunctionConfigurationCommand({ FunctionName: name }))));
  const source = (a: z.infer<typeof input>) => (a.image_uri ?? `s3://${a.s3_bucket}/${a.s3_key}${a.s3_object_version ? ` (version ${a.s3_object_version})` : ''}`);

  const update = defineTool({
    name: 'aws_lambda_update_function_code',
    title: 'Update a Lambda function\'s code',
    description: 'Replace the code of a Lambda function with a .zip from S3 or a container image. May need approval, depending on policy; refused if the function changed after approval.',
    input,
    impact: 'high',
    consequence: 'deploys',
    async describe(a): Promise<Described> {
      const f = await config(a.function_name);
      return {
        summary: `Replace the code of Lambda function ${f.FunctionName} in ${api.region} with ${a.image_uri ? `image ${a.image_uri}` : 'a .zip from S3'} (now ${bytes(f.CodeSize ?? 0)}, SHA-256 ${String(f.CodeSha256).slice(0, 12)}…)`,
        consequence: 'deploys',
        reversible: false,
        fields: [
          { label: 'Function', kind: 'text', value: f.FunctionArn ?? a.function_name },
          { label: 'New code', kind: a.image_uri ? 'text' : 'url', value: source(a) },
          { label: 'Current code SHA-256', kind: 'commit', value: f.CodeSha256 ?? '' },
          { label: 'Runtime', kind: 'text', value: f.Runtime ?? f.PackageType ?? '' },
          { label: 'Region', kind: 'environment', value: api.region },
        ],
        pins: { function: f.FunctionArn ?? a.function_name, code_sha256: f.CodeSha256 ?? '', revision_id: f.RevisionId ?? '' },
      };
    },
    async execute(a, ctx) {
      const out = await api.call(`update the code of Lambda function ${a.function_name}`, () => api.lambda((sdk, client) => client.send(new sdk.UpdateFunctionCodeCommand({
        FunctionName: a.function_name, S3Bucket: a.s3_bucket, S3Key: a.s3_key, S3ObjectVersion: a.s3_object_version, ImageUri: a.image_uri,
        RevisionId: String(ctx.pins.revision_id),
      }))), { write: true });
      return { data: trim(out), text: `Updated the code of Lambda function ${out.FunctionName} (SHA-256 ${out.CodeSha256}, ${bytes(out.CodeSize ?? 0)})` };
    },
    rerunSafe: 'the update sends the pinned RevisionId, which Lambda refuses once anything has changed',
    async reconcile(a, ctx) {
      // RevisionId moves with every change: still the pinned one means nothing happened, and a rerun sends the same
      // RevisionId, which Lambda refuses once anything has changed. A moved revision is reported as happened only
      // when the code hash moved too.
      const f = await config(a.function_name);
      if (f.RevisionId === ctx.pins.revision_id) return null;
      if (f.CodeSha256 === ctx.pins.code_sha256) throw new KernelError('upstream_unknown', `Lambda function ${a.function_name} changed since approval but its code did not; check it in the AWS console`);
      return { data: trim(f), text: `Lambda function ${a.function_name} now runs code ${f.CodeSha256}` };
    },
  });

  return [list, update];
}
