import { createHash } from 'node:crypto';
import type { ApprovalDecision } from '../types.ts';
import { KernelError } from '../errors.ts';

const APPROVAL_DOMAIN = 'countersign/approval/v1\0';
const DIGEST_PATTERN = /^[0-9a-f]{64}$/;

/**
 * The bytes an approver's key signs for one decision on one request:
 * `"countersign/approval/v1\0" || digest || "\0" || decision`. Paired devices sign these bytes directly; passkeys sign
 * their hash as the WebAuthn challenge. The decision is inside, so evidence for "reject" can never count as "approve".
 */
export function approvalSigningBytes(digest: string, decision: ApprovalDecision): Uint8Array {
  checkDigest(digest);
  checkDecision(decision);
  return new TextEncoder().encode(`${APPROVAL_DOMAIN}${digest}\0${decision}`);
}

/**
 * The WebAuthn challenge for a decision on a request: base64url(sha256(approvalSigningBytes(digest, decision))).
 * @example approvalChallenge(requestDigest(body), 'approve') // "q2Xb...", 43 characters
 */
export function approvalChallenge(digest: string, decision: ApprovalDecision): string {
  return createHash('sha256').update(approvalSigningBytes(digest, decision)).digest('base64url');
}

/** Throws bad_request unless `digest` is a request digest (64 lowercase hex characters). */
export function checkDigest(digest: unknown): asserts digest is string {
  if (typeof digest !== 'string' || !DIGEST_PATTERN.test(digest)) {
    throw new KernelError(
      'bad_request',
      `a request digest must be 64 lowercase hex characters (sha256), got ${describe(digest)}; pass the digest the kernel computed for the request`,
    );
  }
}

/** Throws bad_request unless `decision` is 'approve' or 'reject'. */
export function checkDecision(decision: unknown): asserts decision is ApprovalDecision {
  if (decision !== 'approve' && decision !== 'reject') {
    throw new KernelError('bad_request', `a decision must be "approve" or "reject", got ${describe(decision)}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 80 ? `a ${value.length}-character string` : JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}
