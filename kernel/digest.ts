import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Json, RequestBody } from './types.ts';
import { KernelError } from './errors.ts';

/** RFC 8785 JSON Canonicalization Scheme, through a maintained implementation. */
export function jcs(value: unknown): string {
  let text: string | undefined, why = '';
  // canonicalize throws on a lone surrogate ("\uD800"), NaN or Infinity: JSON.parse accepts the first, RFC 8785 none.
  try { text = canonicalize(value); } catch (error) { why = `: ${(error as Error).message}`; }
  if (text === undefined) throw new KernelError('bad_request', `value cannot be canonicalized as JSON${why}`);
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
