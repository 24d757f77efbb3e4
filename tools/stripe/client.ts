/**
 * The one place that holds the Stripe secret key: builds the official SDK client (pointed at the sandbox when
 * asked) and runs every call through error mapping, so describers and executors never see a raw SDK error.
 */
import Stripe from 'stripe';
import { KernelError } from '../../kernel/index.ts';
import { upstreamError } from './errors.ts';

export interface StripeConnectorOptions {
  /** A Stripe secret key (`sk_test_...`, `sk_live_...`) or restricted key (`rk_...`). */
  secretKey?: string;
  /** API origin, e.g. the sandbox's `http://127.0.0.1:41234`. Defaults to https://api.stripe.com. */
  baseUrl?: string;
  /** True when `baseUrl` is the local sandbox: only test-mode keys are accepted then. */
  sandbox: boolean;
}

/** Why a Stripe write found nowhere may run again: Stripe answers a replayed key with the original result. */
export const IDEMPOTENT_RERUN = 'the same Idempotency-Key is sent again, and Stripe answers a replayed key with the original result, never a second effect';

/** What tools get: the SDK client and `call`, which maps failures to clear KernelErrors without the key. */
export interface StripeApi {
  stripe: Stripe;
  /**
   * Run one SDK call; `what` completes "while trying to ..." in error messages. Returns plain JSON. `write: true` marks
   * a call whose effect may have happened when its answer is lost (5xx, network, the key still in flight): those fail
   * as `upstream_unknown`, so the kernel reconciles before anything runs again, never as a plain failure.
   */
  call<T>(what: string, fn: (stripe: Stripe) => Promise<T>, options?: { write?: boolean }): Promise<T>;
}

/** Build the client, refusing configurations that would send a key where it must not go. */
export function createStripeApi(options: StripeConnectorOptions): StripeApi {
  const key = options.secretKey ?? (options.sandbox ? 'sk_test_sandbox' : undefined);
  if (key === undefined || key === '') {
    throw new KernelError('config_error', 'the Stripe connector needs a secret key: set STRIPE_SECRET_KEY (or connectors.stripe.secretKey: env:NAME), or run without one to use the sandbox');
  }
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/.test(key)) {
    throw new KernelError('config_error', 'the Stripe secret key is not shaped like one: expected sk_test_..., sk_live_..., rk_test_... or rk_live_... (check STRIPE_SECRET_KEY)');
  }
  if (options.sandbox && /_live_/.test(key)) {
    throw new KernelError('config_error', 'refusing to send a live Stripe key to the sandbox: use a test key (sk_test_...) or unset it');
  }
  if (options.sandbox && options.baseUrl === undefined) {
    throw new KernelError('config_error', 'the Stripe connector is in sandbox mode but has no baseUrl: pass the URL startStripeSandbox() returned');
  }
  const stripe = new Stripe(key, { maxNetworkRetries: 0, timeout: 20_000, telemetry: false, ...endpoint(options.baseUrl) });
  return {
    stripe,
    async call(what, fn, options) {
      try {
        return plain(await fn(stripe));
      } catch (error) {
        throw upstreamError(error, what, key, options?.write);
      }
    },
  };
}

function endpoint(baseUrl: string | undefined): { host?: string; port?: number; protocol?: 'http' | 'https' } {
  if (baseUrl === undefined) return {};
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new KernelError('config_error', `the Stripe baseUrl "${baseUrl}" is not a URL: use e.g. https://api.stripe.com or http://127.0.0.1:12111`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KernelError('config_error', `the Stripe baseUrl must be http:// or https://, got "${url.protocol}"`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new KernelError('config_error', `the Stripe baseUrl must be an origin without a path (the SDK adds /v1/...), got "${baseUrl}"`);
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  const port = url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port);
  return { host: url.hostname, port, protocol };
}

/** SDK objects carry a non-JSON `lastResponse`; tools hand out plain JSON only. */
function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
