import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Json, RequestBody } from './types.ts';
import { KernelError } from './errors.ts';

/** RFC 8785 JSON Canonicalization Scheme, through a maintained implementation. */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new KernelError('bad_request', 'value cannot be canonicalized as JSON');
  return text;
}

/** sha256 of the parts concatenated (strings as UTF-8), hex. One-shot: the audit chain calls it once per entry. */
export function sha256Hex(...parts: string[]): string {
  return hash('sha256', parts.join(''), 'hex');
}

const REQUEST_DOMAIN = 'countersign/request/v1\0';

/** The digest that names a request everywhere: sha256("countersign/request/v1\0" || JCS(body)). */
export function requestDigest(body: RequestBody): string {
  return sha256Hex(REQUEST_DOMAIN, jcs(body as unknown as Json));
}
