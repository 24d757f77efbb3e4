/**
 * SigV4 verification for the AWS sandbox: recompute the request's signature with the same library the SDK signs with
 * (`@smithy/signature-v4`) over exactly the headers the client says it signed, and compare. A request that is not
 * signed by the sandbox's own credentials is refused the way AWS refuses it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

export interface SandboxCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedRequest {
  method: string;
  /** host header as received, e.g. 127.0.0.1:40123 */
  host: string;
  /** the raw path as sent (still percent-encoded) */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
}

export type Verified = { ok: true; service: string; region: string } | { ok: false; code: string; message: string; service: string | null };

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** node:crypto as the signer's hash constructor (`new Sha256(secret?)`: HMAC when given a key). */
type Source = string | ArrayBuffer | ArrayBufferView;
const bytesOf = (data: Source) => (typeof data === 'string' ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));
class NodeSha256 {
  private readonly hash;
  constructor(secret?: Source) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: Source): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** The service named in the credential scope (`ecs`, `lambda`, `iam`, `ec2`, `s3`), before any check. */
export function scopedService(authorization: string | undefined): string | null {
  return AUTH.exec(authorization ?? '')?.[4] ?? null;
}

export async function verifySigV4(req: SignedRequest, credentials: SandboxCredentials): Promise<Verified> {
  const match = AUTH.exec(req.headers.authorization ?? '');
  if (!match) return { ok: false, code: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token', service: null };
  const [, keyId, day, region, service, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== credentials.accessKeyId) {
    return { ok: false, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', service };
  }
  const amzDate = req.headers['x-amz-date'] ?? '';
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!at || !amzDate.startsWith(day!)) {
    return { ok: false, code: 'IncompleteSignature', message: 'X-Amz-Date is missing or does not match the credential scope date.', service };
  }
  const signingDate = new Date(Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!));
  if (Math.abs(Date.now() - signingDate.getTime()) > 15 * 60_000) {
    return { ok: false, code: 'SignatureDoesNotMatch', message: 'Signature expired: the request time is more than 15 minutes from the server time.', service };
  }
  // The signature covers x-amz-content-sha256, not the body: check that the header is the body's hash, as AWS does.
  const declared = req.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== createHash('sha256').update(req.body).digest('hex')) {
    return { ok: false, code: 'XAmzContentSHA256Mismatch', message: "The provided 'x-amz-content-sha256' header does not match what was computed.", service };
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) headers[name] = name === 'host' ? req.host : (req.headers[name] ?? '');
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of req.query) {
    const seen = query[k];
    query[k] = seen === undefined ? v : Array.isArray(seen) ? [...seen, v] : [seen, v];
  }
  const [hostname, port] = req.host.split(':');
  const s3 = service === 's3';
  const signer = new SignatureV4({ credentials, region: region!, service: service!, sha256: NodeSha256, uriEscapePath: !s3, applyChecksum: s3 });
  const signed = await signer.sign(
    { method: req.method, protocol: 'http:', hostname: hostname!, port: port ? Number(port) : undefined, path: decodePathForSigner(req.path, s3), query, headers, body: req.body },
    { signingDate, signableHeaders: new Set(Object.keys(headers)), unsignableHeaders: new Set() },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? signed.headers.Authorization))?.[1] ?? '';
  if (expected.length !== 64 || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      service,
    };
  }
  return { ok: true, service: service!, region: region! };
}

/**
 * The SDK signs the path it sends; the signer escapes it once more for every service but S3. Hand it the path in
 * the form the client had before signing: as sent for S3, decoded once elsewhere.
 */
function decodePathForSigner(path: string, s3: boolean): string {
  if (s3) return path;
  try {
    return path.split('/').map((segment) => decodeURIComponent(segment)).join('/');
  } catch {
    return path;
  }
}
