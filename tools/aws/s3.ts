/**
 * S3: delete one object. The intent says how big it is and whether the bucket keeps versions (a delete marker,
 * recoverable) or not (gone); execution sends the approved ETag as If-Match, so S3 refuses if the object changed.
 */
import { z } from 'zod';
import { KernelError } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { AwsApi } from './client.ts';
import { bucketName, bytes, objectKey } from './names.ts';

export function s3Tools(api: AwsApi): ToolSpec[] {
  const input = z.object({
    bucket: bucketName.describe('The bucket'),
    key: objectKey.describe('The object\'s key'),
    version_id: z.string().min(1).max(1024).optional().describe('One version to delete for good; omit to add a delete marker'),
  });
  type Args = z.infer<typeof input>;
  const where = (a: Args) => `s3://${a.bucket}/${a.key}`;

  async function head(a: Args) {
    try {
      return await api.call(`read ${where(a)}`, () => api.s3((sdk, client) => client.send(new sdk.HeadObjectCommand({ Bucket: a.bucket, Key: a.key, VersionId: a.version_id }))));
    } catch (error) {
      if (error instanceof KernelError && (error.details as { status?: number } | undefined)?.status === 404) {
        throw new KernelError('invalid_arguments', `there is no object ${where(a)}${a.version_id ? ` at version ${a.version_id}` : ''} (or no bucket ${a.bucket} in this account); nothing to delete`);
      }
      throw error;
    }
  }

  const del = defineTool({
    name: 'aws_s3_delete_object',
    title: 'Delete an S3 object',
    description: 'Delete one S3 object (or one version of it). In a versioned bucket, deleting without version_id adds a delete marker and the data stays recoverable. May need approval, depending on policy.',
    input,
    impact: 'high',
    consequence: 'deletes',
    async describe(a): Promise<Described> {
      const object = await head(a);
      const versioning = await api.call(`read the versioning of bucket ${a.bucket}`, () => api.s3((sdk, client) => client.send(new sdk.GetBucketVersioningCommand({ Bucket: a.bucket }))));
      const versioned = versioning.Status === 'Enabled';
      const recoverable = versioned && a.version_id === undefined;
      return {
        summary: `Delete ${a.version_id ? 'a version of ' : ''}S3 object ${where(a)} (${bytes(object.ContentLength ?? 0)})${recoverable ? '; the bucket keeps versions, so it stays recoverable' : '; it cannot be recovered'}`,
        consequence: 'deletes',
        reversible: recoverable,
        fields: [
          { label: 'Object', kind: 'url', value: where(a) },
          { label: 'Size', kind: 'number', value: object.ContentLength ?? 0 },
          { label: 'Version', kind: 'text', value: object.VersionId ?? a.version_id ?? 'unversioned' },
          { label: 'Last modified', kind: 'text', value: String(object.LastModified ?? '') },
          { label: 'Bucket versioning', kind: 'text', value: versioning.Status ?? 'never enabled' },
        ],
        pins: { etag: object.ETag ?? '', version_id: object.VersionId ?? null, size: object.ContentLength ?? 0 },
      };
    },
    async execute(a, ctx) {
      const out = await api.call(`delete ${where(a)}`, () => api.s3((sdk, client) => client.send(new sdk.DeleteObjectCommand({
        Bucket: a.bucket, Key: a.key, VersionId: a.version_id, ...(a.version_id ? {} : { IfMatch: String(ctx.pins.etag) }),
      }))), { write: true });
      return {
        data: { bucket: a.bucket, key: a.key, version_id: out.VersionId ?? null, delete_marker: out.DeleteMarker ?? false },
        text: `Deleted ${where(a)}${out.DeleteMarker ? ` (delete marker ${out.VersionId})` : ''}`,
      };
    },
    rerunSafe: 'the delete is conditional on the approved ETag, so a second one cannot remove anything else',
    async reconcile(a, ctx) {
      // Gone, or no longer the approved version: the delete (ours) took effect. Still the same ETag: it did not.
      try {
        const object = await api.call(`read ${where(a)}`, () => api.s3((sdk, client) => client.send(new sdk.HeadObjectCommand({ Bucket: a.bucket, Key: a.key, VersionId: a.version_id }))));
        if (object.ETag === ctx.pins.etag && (object.VersionId ?? null) === ctx.pins.version_id) return null;
        throw new KernelError('upstream_unknown', `${where(a)} changed since approval; check it in the S3 console before deciding`);
      } catch (error) {
        if (error instanceof KernelError && (error.details as { status?: number } | undefined)?.status === 404) {
          return { data: { bucket: a.bucket, key: a.key, deleted: true }, text: `${where(a)} is deleted` };
        }
        throw error;
      }
    },
  });
  return [del];
}
