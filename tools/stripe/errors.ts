/**
 * Stripe failures as KernelError('upstream_error'), each saying what happened and what to do. Messages are
 * rebuilt from the error's fields and scrubbed, and the SDK error is not kept as `cause`: nothing that could
 * carry the secret key leaves the connector.
 */
import Stripe from 'stripe';
import { KernelError } from '../../kernel/index.ts';

const KEY_PATTERN = /\b(sk|rk|pk)_(test|live)_[A-Za-z0-9*]+/g;

/** Remove the secret key (exact value) and anything shaped like a Stripe API key from `text`. */
export function scrub(text: string, secret?: string): string {
  let clean = text;
  if (secret !== undefined && secret.length >= 8) clean = clean.split(secret).join('[REDACTED]');
  return clean.replace(KEY_PATTERN, '$1_$2_[REDACTED]');
}

/**
 * Map whatever the Stripe SDK threw while doing `what` (e.g. "retrieve charge ch_1") to a KernelError. For a `write`,
 * an answer that does not say whether Stripe acted (no answer, 5xx, the same key still in progress) is
 * `upstream_unknown`: the request is reconciled (found by its tag, or re-run under the same Idempotency-Key), never
 * reported failed, since an agent told "failed" would ask again under a new key.
 */
export function upstreamError(error: unknown, what: string, secret?: string, write = false): KernelError {
  if (error instanceof KernelError) return error;
  const known = upstreamErrorOf(error, what, secret);
  if (!write || !(error instanceof Stripe.errors.StripeError)) return known;
  const status = error.statusCode;
  const inFlight = error instanceof Stripe.errors.StripeConnectionError || status === undefined || status >= 500 || (status === 409 && error.rawType === 'idempotency_error');
  if (!inFlight) return known;
  return new KernelError('upstream_unknown', `${known.message.replace(/ It is not known whether it took effect;.*?reused\./, '')} Whether Stripe acted is not known; Countersign checks Stripe before anything runs again, and a re-run reuses the same Idempotency-Key.`, { ...known.details });
}

function upstreamErrorOf(error: unknown, what: string, secret?: string): KernelError {
  if (!(error instanceof Stripe.errors.StripeError)) {
    const message = error instanceof Error ? error.message : String(error);
    return new KernelError('upstream_error', scrub(`Stripe call failed while trying to ${what}: ${message}`, secret));
  }
  const status = error.statusCode;
  const requestId = error.requestId;
  const said = error.message ? `: ${error.message}` : '';
  const ref = requestId ? ` (Stripe request ${requestId})` : '';
  const retryAfter = retryAfterSeconds(error.headers);
  let message: string;
  if (error instanceof Stripe.errors.StripeConnectionError) {
    message = `Could not reach Stripe to ${what}${said}. Check the network or the configured Stripe URL, then try again.`;
  } else if (status === 401) {
    message = `Stripe rejected the API key while trying to ${what} (401 authentication_error${said}). Set STRIPE_SECRET_KEY to a valid secret key (sk_test_... or sk_live_...) for this account.`;
  } else if (status === 403) {
    message = `The Stripe API key may not ${what} (403 permission_error${said}). Use a key (or restricted key) that grants this permission.`;
  } else if (status === 402) {
    message = `Stripe declined the request to ${what} (402 card_error${error.code ? `, ${error.code}` : ''}${said}). The payment method cannot be used for this; nothing was charged or moved.`;
  } else if (status === 404) {
    message = `Stripe found nothing to ${what} (404 resource_missing${said}). Check the id and that it belongs to this Stripe account and mode (test or live).`;
  } else if (error instanceof Stripe.errors.StripeIdempotencyError || error.rawType === 'idempotency_error') {
    message = status === 409
      ? `Another request with the same idempotency key is still in progress at Stripe while trying to ${what} (409). Wait a moment and try again; it will not run twice.`
      : `Stripe refused to ${what}: this idempotency key was already used with different parameters (${status ?? 400} idempotency_error). A changed request must be submitted as a new request.`;
  } else if (status === 409) {
    message = `Stripe reported a conflict while trying to ${what} (409${said}). Try again shortly; the idempotency key makes a retry safe.`;
  } else if (status === 429) {
    const wait = retryAfter === undefined ? 'a few seconds' : `${retryAfter} second${retryAfter === 1 ? '' : 's'}`;
    message = `Stripe rate limit reached while trying to ${what} (429 rate_limit). Retry after ${wait}.`;
  } else if (status === 400) {
    const param = error.param ? ` (parameter ${error.param})` : '';
    message = `Stripe refused to ${what} as invalid${param}${said}. Fix the arguments and submit a new request.`;
  } else if (status !== undefined && status >= 500) {
    message = `Stripe had an internal error while trying to ${what} (${status} api_error${said}). It is not known whether it took effect; retrying is safe because the same idempotency key is reused.`;
  } else {
    message = `Stripe returned an error while trying to ${what} (${status ?? 'no status'} ${error.rawType ?? error.type}${said}).`;
  }
  return new KernelError('upstream_error', scrub(message + ref, secret), {
    status: status ?? null,
    type: error.rawType ?? error.type,
    code: error.code ?? null,
    requestId: requestId ?? null,
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  });
}

function retryAfterSeconds(headers: { [name: string]: string } | undefined): number | undefined {
  const value = headers?.['retry-after'];
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
