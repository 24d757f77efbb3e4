/**
 * AWS failures as KernelErrors that say what happened and what to do. Messages are rebuilt from the error's name,
 * status and message and scrubbed of key material; the SDK error is not kept as `cause`.
 */
import { KernelError } from '../../kernel/index.ts';

const ACCESS_KEY = /\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g;

export function scrub(text: string, secrets: readonly string[] = []): string {
  let clean = text;
  for (const secret of secrets) if (secret.length >= 8) clean = clean.split(secret).join('[REDACTED]');
  return clean.replace(ACCESS_KEY, '$1[REDACTED]');
}

interface SdkError { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string }; $retryable?: unknown; code?: string }

const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnrecognizedClientException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException']);
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown', 'RequestThrottled']);
const CREDENTIALS = new Set(['CredentialsProviderError', 'ProviderError']);

export function upstreamError(error: unknown, what: string, options: { secrets?: readonly string[]; write?: boolean } = {}): KernelError {
  if (error instanceof KernelError) return error;
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const said = e.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const ref = e.$metadata?.requestId ? ` (AWS request ${e.$metadata.requestId})` : '';
  let code: 'upstream_error' | 'upstream_unknown' = 'upstream_error';
  let message: string;
  if (CREDENTIALS.has(name) || /Could not load credentials|Region is missing/i.test(e.message ?? '')) {
    message = `No usable AWS credentials or region to ${what}${said}. Configure the standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, or an instance role) and AWS_REGION for the executor, or unset them all to use the sandbox.`;
  } else if (DENIED.has(name) || status === 403) {
    message = `AWS refused to ${what} (${status ?? 403} ${name}${said}). Grant the credentials Countersign's executor uses the IAM permission for this call, then submit a new request.`;
  } else if (THROTTLED.has(name) || status === 429) {
    message = `AWS throttled the request to ${what} (${status ?? 400} ${name}). Nothing was changed by this attempt; try again in a few seconds.`;
  } else if (status === undefined || status >= 500) {
    const unknown = options.write === true;
    if (unknown) code = 'upstream_unknown';
    message = status === undefined
      ? `Could not reach AWS to ${what} (${name}${said}).${unknown ? ' It is not known whether the change took effect; Countersign will check before anything runs again.' : ' Check the network and the endpoint, then try again.'}`
      : `AWS had an internal error while trying to ${what} (${status} ${name}${said}).${unknown ? ' It is not known whether the change took effect; Countersign will check before anything runs again.' : ' Try again shortly.'}`;
  } else if (status === 404 || /NotFound|NoSuch/.test(name)) {
    message = `AWS found nothing to ${what} (${status} ${name}${said}). Check the name or id, the account and the region (${name === 'NotFound' ? 'the object does not exist' : 'as configured'}).`;
  } else if (status === 412 || name === 'PreconditionFailedException' || name === 'PreconditionFailed') {
    message = `AWS refused to ${what} because the resource changed since it was approved (${status} ${name}${said}). Nothing was changed; ask again so a human can approve the current state.`;
  } else {
    message = `AWS refused to ${what} (${status} ${name}${said}). Fix the arguments and submit a new request.`;
  }
  return new KernelError(code, scrub(message + ref, options.secrets), { status: status ?? null, type: name });
}
