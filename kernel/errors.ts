import { DrizzleQueryError } from 'drizzle-orm';
/**
 * Kernel errors carry a stable string code and a message that says what was wrong and what to do.
 * They never cross the wire as-is: the gateway and the web app turn them into JSON-RPC or HTTP errors at the edge.
 */
export type KernelErrorCode =
  | 'bad_request' | 'invalid_arguments' | 'unknown_tool' | 'unknown_request' | 'unknown_agent' | 'not_pending'
  | 'capability_refused' | 'no_endpoint' | 'policy_error' | 'config_error' | 'evidence_refused' | 'not_an_approver'
  | 'grant_invalid' | 'grant_consumed' | 'grant_expired' | 'digest_mismatch' | 'pin_drift'
  | 'upstream_error' | 'upstream_unknown' | 'cancelled' | 'database_unavailable' | 'audit_broken' | 'internal';

export class KernelError extends Error {
  readonly code: KernelErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: KernelErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KernelError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: KernelErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Any thrown value as a KernelError; unknown failures become `internal` and keep their cause. */
export function asKernelError(error: unknown): KernelError {
  if (error instanceof KernelError) return error;
  // A failed statement is told by what the database said. Drizzle's wrapper adds the statement and its parameters
  // (request bodies, upstream answers), which are not for an agent or a dashboard to read; they stay in `cause`.
  // A stack overflow here is a value nested past what JSON.stringify, JCS or jsonb can take.
  const said = error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error, deep = said instanceof RangeError && said.message.startsWith('Maximum call stack');
  return new KernelError('internal', `internal error: ${said instanceof Error ? said.message : String(said)}${deep ? ': a value (most often an upstream answer) is nested too deeply to serialize or store' : ''}`, undefined, { cause: error });
}
