import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../kernel/index.ts';
import { toolInfo, validate } from '../../tools/host.ts';
import { decodeCursor, encodeCursor } from '../../tools/stripe/cursor.ts';
import { scrub, upstreamError } from '../../tools/stripe/errors.ts';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { formatAmount, formatMoney, minorDigits } from '../../tools/stripe/money.ts';
import { decodeForm } from '../../tools/stripe/sandbox/form.ts';

describe('stripe money', () => {
  it('formats minor units with the currency code', () => {
    expect(formatMoney(12_000, 'usd')).toBe('$120.00 USD');
    expect(formatMoney(123_400, 'USD')).toBe('$1,234.00 USD');
    expect(formatMoney(5, 'eur')).toBe('€0.05 EUR');
    expect(formatMoney(0, 'usd')).toBe('$0.00 USD');
    expect(formatMoney(99_999_999, 'gbp')).toBe('£999,999.99 GBP');
  });

  it('handles zero- and three-decimal currencies as Stripe counts them', () => {
    expect(minorDigits('jpy')).toBe(0);
    expect(formatMoney(12_000, 'jpy')).toBe('¥12,000 JPY');
    expect(formatMoney(1_500, 'KRW')).toBe('₩1,500 KRW');
    expect(minorDigits('kwd')).toBe(3);
    expect(formatMoney(1_234, 'kwd')).toMatch(/^\S*1\.234 KWD$/);
  });

  it('says the code once when there is no symbol', () => {
    expect(formatMoney(1_000, 'xyz')).toBe('10.00 XYZ');
    expect(formatAmount(12_000, 'usd')).toBe('$120.00');
  });
});

describe('stripe sandbox form decoding', () => {
  it('decodes nested keys, indexed and appended arrays', () => {
    const form = decodeForm('amount=100&metadata[order]=A%2012&line_items[0][price]=p1&line_items[0][quantity]=2&line_items[1][price]=p2&expand[]=a&expand[]=b.c');
    expect(form).toEqual({
      amount: '100',
      metadata: { order: 'A 12' },
      line_items: [{ price: 'p1', quantity: '2' }, { price: 'p2' }],
      expand: ['a', 'b.c'],
    });
    expect(decodeForm('')).toEqual({});
  });
});

describe('stripe cursors', () => {
  it('round-trips and refuses a cursor from another list or garbage', () => {
    const cursor = encodeCursor('stripe_list_customers', 'cus_123');
    expect(decodeCursor('stripe_list_customers', cursor)).toBe('cus_123');
    expect(decodeCursor('stripe_list_customers', undefined)).toBeUndefined();
    expect(() => decodeCursor('stripe_list_charges', cursor)).toThrow(/came from stripe_list_customers, not stripe_list_charges/);
    expect(() => decodeCursor('stripe_list_charges', 'not a cursor!')).toThrow(/not one this tool issued/);
  });
});

describe('stripe error mapping', () => {
  const secret = 'sk_test_TopSecretKey987654';

  it('scrubs the key and anything shaped like one', () => {
    expect(scrub(`bad key ${secret}`, secret)).toBe('bad key [REDACTED]');
    expect(scrub('Invalid API Key provided: sk_live_****1234')).toBe('Invalid API Key provided: sk_live_[REDACTED]');
  });

  it('maps a 429 with Retry-After, and keeps no cause that could hold the key', () => {
    const raw = new Stripe.errors.StripeRateLimitError({
      message: `slow down ${secret}`, type: 'rate_limit_error', statusCode: 429, headers: { 'retry-after': '7' }, requestId: 'req_1',
    } as never);
    const mapped = upstreamError(raw, 'create the refund', secret);
    expect(mapped).toBeInstanceOf(KernelError);
    expect(mapped.code).toBe('upstream_error');
    expect(mapped.message).toContain('Retry after 7 seconds');
    expect(mapped.message).not.toContain(secret);
    expect(mapped.details).toMatchObject({ status: 429, retryAfterSeconds: 7, requestId: 'req_1' });
    expect(mapped.cause).toBeUndefined();
  });
});

describe('stripe connector configuration', () => {
  it('refuses a missing key, a live key in the sandbox, and a baseUrl with a path', () => {
    expect(() => createStripeConnector({ sandbox: false })).toThrow(/STRIPE_SECRET_KEY/);
    expect(() => createStripeConnector({ sandbox: true, secretKey: 'sk_live_abc123', baseUrl: 'http://127.0.0.1:1' })).toThrow(/live Stripe key to the sandbox/);
    expect(() => createStripeConnector({ sandbox: false, secretKey: 'sk_test_abc', baseUrl: 'http://x/v1' })).toThrow(/origin without a path/);
    expect(() => createStripeConnector({ sandbox: false, secretKey: 'hunter2' })).toThrow(/not shaped like one/);
  });

  it('declares twelve tools whose schemas convert to JSON Schema and validate arguments', () => {
    const connector = createStripeConnector({ sandbox: true, baseUrl: 'http://127.0.0.1:1' });
    expect(connector.tools.map((t) => t.name)).toEqual([
      'stripe_get_balance', 'stripe_list_customers', 'stripe_search_customers', 'stripe_get_customer', 'stripe_list_charges', 'stripe_get_payment_intent',
      'stripe_list_subscriptions', 'stripe_create_refund', 'stripe_create_payout', 'stripe_create_payment_link',
      'stripe_cancel_subscription', 'stripe_update_customer_email',
    ]);
    for (const tool of connector.tools) expect(toolInfo(connector, tool).inputSchema.type).toBe('object');
    const refund = connector.tools.find((t) => t.name === 'stripe_create_refund')!;
    expect(() => validate(refund, { amount: 100 })).toThrow(/exactly one of charge/);
    expect(() => validate(refund, { charge: 'ch_1', payment_intent: 'pi_1' })).toThrow(/exactly one of charge/);
    expect(() => validate(refund, { charge: 'ch_1', amount: 1.5 })).toThrow(/args\.amount/);
    expect(() => validate(refund, { charge: 'ch_1', metadata: { countersign_request_id: 'x' } })).toThrow(/reserved/);
    expect(validate(refund, { charge: 'ch_1' })).toEqual({ charge: 'ch_1' });
    const link = connector.tools.find((t) => t.name === 'stripe_create_payment_link')!;
    expect(() => validate(link, { price: 'price_1', line_items: [{ price: 'price_2', quantity: 1 }] })).toThrow(/either price/);
  });
});
