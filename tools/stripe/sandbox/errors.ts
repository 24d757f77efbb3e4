/**
 * Errors as Stripe's API returns them: an HTTP status plus `{error: {type, code, message, param, doc_url}}`.
 */

export type StripeErrorType =
  | 'api_error'
  | 'card_error'
  | 'idempotency_error'
  | 'invalid_request_error'
  | 'authentication_error'
  | 'rate_limit_error';

export class SandboxApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  body(): { error: Record<string, string> } {
    const error: Record<string, string> = { type: this.type, message: this.message };
    if (this.code !== undefined) {
      error.code = this.code;
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, '-')}`;
    }
    if (this.param !== undefined) error.param = this.param;
    return { error };
  }
}

/** A path id that does not exist: Stripe answers 404 `resource_missing` naming the parameter. */
export function noSuch(kind: string, id: string, param = 'id'): SandboxApiError {
  return new SandboxApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, 'resource_missing', param);
}

/** A bad parameter: 400 `invalid_request_error`. */
export function invalid(message: string, param?: string, code = 'parameter_invalid'): SandboxApiError {
  return new SandboxApiError(400, 'invalid_request_error', message, code, param);
}

/** The body a test gets by default from `failNext({status})` when it gives none. */
export function defaultFailure(status: number): { error: Record<string, string> } {
  if (status === 401) return new SandboxApiError(401, 'authentication_error', 'Invalid API Key provided.').body();
  if (status === 402) {
    return new SandboxApiError(402, 'card_error', 'Your card was declined.', 'card_declined').body();
  }
  if (status === 404) return noSuch('resource', 'unknown').body();
  if (status === 409) {
    return new SandboxApiError(
      409,
      'idempotency_error',
      'There is currently another in-progress request using this idempotency key. Try again later.',
    ).body();
  }
  if (status === 429) {
    return new SandboxApiError(
      429,
      'rate_limit_error',
      'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
      'rate_limit',
    ).body();
  }
  if (status >= 500) return new SandboxApiError(status, 'api_error', 'An unknown error occurred on our servers.').body();
  return invalid('Invalid request.').body();
}
