import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { SEED, startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import type { Connector, ExecuteContext, ToolSpec } from '../../tools/spec.ts';

const SECRET = 'sk_test_NeverShowThisKey4242';
let sandbox: StripeSandbox;
let connector: Connector;

beforeEach(async () => {
  sandbox = await startStripeSandbox();
  connector = createStripeConnector({ baseUrl: sandbox.url, sandbox: true, secretKey: SECRET });
});
afterEach(() => sandbox.close());

const tool = (name: string): ToolSpec => connector.tools.find((t) => t.name === name) as ToolSpec;
const ctx = (requestId: string, pins: JsonObject = {}): ExecuteContext => ({ requestId, idempotencyKey: `countersign-${requestId}`, pins, marker: `m-${requestId}` });
const refundPins = { charge: SEED.janeCharge, amount: 12_000, amount_refunded: 0, currency: 'USD' };

async function failure(promise: Promise<unknown>): Promise<KernelError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KernelError) return error;
    throw error;
  }
  throw new Error('expected a KernelError, got success');
}

describe('stripe sandbox wire behaviour (official SDK)', () => {
  it('replays a write sent twice with the same key, once in state', async () => {
    const stripe = new Stripe(SECRET, { host: '127.0.0.1', port: new URL(sandbox.url).port, protocol: 'http', maxNetworkRetries: 0 });
    const first = await stripe.refunds.create({ charge: SEED.janeCharge, amount: 1_000 }, { idempotencyKey: 'same-key' });
    const second = await stripe.refunds.create({ charge: SEED.janeCharge, amount: 1_000 }, { idempotencyKey: 'same-key' });
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.requestId).toMatch(/^req_/);
    expect(sandbox.state.list('refunds')).toHaveLength(1);
    expect(sandbox.state.get('charges', SEED.janeCharge)?.amount_refunded).toBe(1_000);
    await expect(stripe.refunds.create({ charge: SEED.janeCharge, amount: 2_000 }, { idempotencyKey: 'same-key' })).rejects.toBeInstanceOf(
      Stripe.errors.StripeIdempotencyError,
    );
  });

  it('requires a test-mode Bearer key', async () => {
    const response = await fetch(`${sandbox.url}/v1/balance`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { type: 'authentication_error' } });
  });
});

describe('stripe connector idempotency and reconcile', () => {
  it('executing the same request twice moves money once and returns the same refund', async () => {
    const refund = tool('stripe_create_refund');
    const first = await refund.execute({ charge: SEED.janeCharge }, ctx('r1', refundPins));
    const again = await refund.execute({ charge: SEED.janeCharge }, ctx('r1', refundPins));
    expect(again.data.id).toBe(first.data.id);
    expect(sandbox.state.list('refunds')).toHaveLength(1);
    expect(sandbox.state.get('charges', SEED.janeCharge)?.amount_refunded).toBe(12_000);
  });

  it('reusing a key with a different body is refused with a clear error', async () => {
    await tool('stripe_create_refund').execute({ charge: SEED.janeCharge, amount: 100 }, ctx('r1', refundPins));
    const error = await failure(tool('stripe_create_refund').execute({ charge: SEED.janeCharge, amount: 200 }, ctx('r1', refundPins)));
    expect(error.code).toBe('upstream_error');
    expect(error.message).toMatch(/^Stripe refused to create the refund: this idempotency key was already used with different parameters \(400 idempotency_error\)/);
    expect(sandbox.state.list('refunds')).toHaveLength(1);
  });

  it('reconcile finds the write a crashed execution made, and nothing for one that never ran', async () => {
    const done = await tool('stripe_create_refund').execute({ charge: SEED.janeCharge, amount: 700 }, ctx('crashed', refundPins));
    const calls = sandbox.received.length;
    const found = await tool('stripe_create_refund').reconcile?.({ charge: SEED.janeCharge, amount: 700 }, ctx('crashed', refundPins));
    expect(found?.data.id).toBe(done.data.id);
    expect(await tool('stripe_create_refund').reconcile?.({ charge: SEED.janeCharge }, ctx('never-ran', refundPins))).toBeNull();
    expect(sandbox.received.slice(calls).every((r) => r.method === 'GET')).toBe(true); // reconcile never writes

    const payout = await tool('stripe_create_payout').execute({ amount: 100, currency: 'usd' }, ctx('p1'));
    expect((await tool('stripe_create_payout').reconcile?.({ amount: 100, currency: 'usd' }, ctx('p1')))?.data.id).toBe(payout.data.id);
    expect(await tool('stripe_create_payment_link').reconcile?.({ price: SEED.proPrice }, ctx('l1'))).toBeNull();
    expect(await tool('stripe_cancel_subscription').reconcile?.({ subscription: SEED.janeSubscription }, ctx('s1'))).toBeNull();
    await tool('stripe_cancel_subscription').execute({ subscription: SEED.janeSubscription }, ctx('s1'));
    expect((await tool('stripe_cancel_subscription').reconcile?.({ subscription: SEED.janeSubscription }, ctx('s1')))?.data.status).toBe('canceled');
  });
});

describe('stripe upstream errors', () => {
  const balance = () => tool('stripe_get_balance').execute({}, ctx('r'));

  it('maps each status to a clear message that says what to do', async () => {
    const cases: [number, Record<string, string> | undefined, RegExp][] = [
      [401, undefined, /rejected the API key .*401 authentication_error.*Set STRIPE_SECRET_KEY/],
      [402, undefined, /declined .*402 card_error, card_declined/],
      [409, undefined, /same idempotency key is still in progress .*\(409\)/],
      [429, { 'Retry-After': '7' }, /rate limit reached .*Retry after 7 seconds/],
      [500, undefined, /internal error .*500 api_error.*retrying is safe/],
      [503, undefined, /internal error .*503 api_error/],
    ];
    for (const [status, headers, pattern] of cases) {
      sandbox.failNext({ status, headers });
      const before = sandbox.received.length;
      const error = await failure(balance());
      expect(error.code).toBe('upstream_error');
      expect(error.message).toMatch(pattern);
      expect(error.message).toMatch(/\(Stripe request req_Sbx\d+\)$/);
      expect(sandbox.received.length - before).toBe(1); // no silent SDK retries
      if (status === 429) expect(error.details).toMatchObject({ status: 429, retryAfterSeconds: 7 });
    }
  });

  it('reports a missing object (404) and an invalid request (400) with Stripe\'s reason', async () => {
    const missing = await failure(tool('stripe_get_customer').execute({ customer: 'cus_DoesNotExist' }, ctx('r')));
    expect(missing.message).toBe("Stripe found nothing to retrieve customer cus_DoesNotExist (404 resource_missing: No such customer: 'cus_DoesNotExist'). Check the id and that it belongs to this Stripe account and mode (test or live). (Stripe request req_Sbx0000000001)");
    const invalid = await failure(tool('stripe_create_payout').execute({ amount: 10_000_000, currency: 'usd' }, ctx('big')));
    expect(invalid.message).toMatch(/^Stripe refused to create the payout as invalid \(parameter amount\): You have insufficient funds/);
    expect(invalid.details).toMatchObject({ status: 400, code: 'balance_insufficient' });
  });

  it('a live key that the server rejects yields 401 without the key', async () => {
    const live = 'sk_live_RealLookingKey123456';
    const direct = createStripeConnector({ baseUrl: sandbox.url, sandbox: false, secretKey: live });
    const error = await failure(direct.tools[0].execute({}, ctx('r')));
    expect(error.message).toMatch(/401 authentication_error/);
    expect(JSON.stringify({ message: error.message, details: error.details, stack: error.stack })).not.toContain(live);
  });

  it('an unreachable Stripe is a clear connection error', async () => {
    const port = new URL(sandbox.url).port;
    await sandbox.close();
    const error = await failure(balance());
    expect(error.message).toMatch(/Could not reach Stripe to retrieve the balance/);
    sandbox = await startStripeSandbox();
    expect(port).not.toBe('');
  });
});

describe('the secret key never leaves the connector', () => {
  it('appears in no result, error, intent or recorded request', async () => {
    const seen: string[] = [];
    const keep = (value: unknown) => seen.push(JSON.stringify(value));
    const capture = async (promise: Promise<unknown>) => {
      try {
        keep(await promise);
      } catch (error) {
        const e = error as KernelError;
        keep({ message: e.message, details: e.details, stack: e.stack, cause: String(e.cause) });
      }
    };
    for (const t of connector.tools) {
      const args: JsonObject = t.name.includes('refund') ? { charge: SEED.janeCharge } : t.name.includes('payout') ? { amount: 100, currency: 'usd' }
        : t.name.includes('payment_link') ? { price: SEED.proPrice } : t.name.includes('subscription') && t.name.includes('cancel') ? { subscription: SEED.janeSubscription }
        : t.name.includes('email') ? { customer: SEED.jane, email: 'z@example.com' } : t.name.includes('get_customer') ? { customer: SEED.jane }
        : t.name.includes('payment_intent') ? { payment_intent: SEED.janePaymentIntent } : {};
      await capture(t.describe(args));
      await capture(t.execute(args, ctx(t.name, refundPins)));
      // The server echoes the key in its error message, as a careless upstream might.
      sandbox.failNext({ status: 401, body: { error: { type: 'authentication_error', message: `Invalid API Key provided: ${SECRET}` } } });
      await capture(t.execute(args, ctx(`${t.name}-fail`, refundPins)));
    }
    keep(sandbox.received);
    const all = seen.join('\n');
    expect(all).toContain('Invalid API Key provided: [REDACTED]');
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain('NeverShowThisKey');
  });
});
