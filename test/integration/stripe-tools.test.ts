import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../kernel/index.ts';
import { checkPins, validate } from '../../tools/host.ts';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { SEED, startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import type { Connector, ExecuteContext, ToolSpec } from '../../tools/spec.ts';

let sandbox: StripeSandbox;
let connector: Connector;

beforeEach(async () => {
  sandbox = await startStripeSandbox();
  connector = createStripeConnector({ baseUrl: sandbox.url, sandbox: true, secretKey: 'sk_test_ToolsSuite000001' });
});
afterEach(() => sandbox.close());

const tool = (name: string): ToolSpec => {
  const found = connector.tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};
const ctx = (requestId: string, pins: JsonObject = {}): ExecuteContext => ({ requestId, idempotencyKey: `countersign-${requestId}`, pins, marker: `m-${requestId}` });
/** Describe then execute, as the host does: validated args, pins from describe. */
async function run(name: string, raw: JsonObject, requestId = 'req-1') {
  const args = validate(tool(name), raw);
  const intent = await tool(name).describe(args);
  return { intent, result: await tool(name).execute(args, ctx(requestId, intent.pins)) };
}

describe('stripe reads', () => {
  it('reads balance, customer, charges, payment intent and subscriptions', async () => {
    const balance = await tool('stripe_get_balance').execute({}, ctx('r'));
    expect(balance.text).toBe('Available: $1,234.00 USD, ¥50,000 JPY; pending: $0.00 USD, ¥0 JPY');
    expect(balance.data.livemode).toBe(false);

    const jane = await tool('stripe_get_customer').execute({ customer: SEED.jane }, ctx('r'));
    expect(jane.text).toBe(`${SEED.jane}: Jane Doe <jane@example.com>`);

    const byEmail = await tool('stripe_list_customers').execute({ email: 'jane@example.com' }, ctx('r'));
    expect((byEmail.data.data as JsonObject[]).map((c) => c.id)).toEqual([SEED.jane]);

    const charges = await tool('stripe_list_charges').execute({ customer: SEED.jane }, ctx('r'));
    expect((charges.data.data as JsonObject[]).map((c) => c.id)).toEqual([SEED.janeCharge]);

    const intent = await tool('stripe_get_payment_intent').execute({ payment_intent: SEED.janePaymentIntent }, ctx('r'));
    expect(intent.text).toBe(`${SEED.janePaymentIntent}: $120.00 USD, succeeded`);

    const active = await tool('stripe_list_subscriptions').execute({}, ctx('r'));
    expect((active.data.data as JsonObject[]).map((s) => s.id)).toEqual([SEED.janeSubscription]);
    const all = await tool('stripe_list_subscriptions').execute({ status: 'all' }, ctx('r'));
    expect((all.data.data as JsonObject[]).length).toBe(2);
    expect(sandbox.received.every((r) => r.idempotencyKey === null && r.method === 'GET')).toBe(true);
  });

  it('pages through customers with an opaque cursor', async () => {
    const list = tool('stripe_list_customers');
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list.execute({ limit: 2, ...(cursor ? { cursor } : {}) }, ctx('r'));
      seen.push(...(page.data.data as JsonObject[]).map((c) => String(c.id)));
      cursor = page.data.has_more ? String(page.data.next_cursor) : undefined;
      if (!page.data.has_more) expect(page.data.next_cursor).toBeNull();
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect(seen[0]).toBe(SEED.jane); // newest first, as Stripe lists
    expect(sandbox.received[1].path).toContain(`starting_after=${seen[1]}`);
  });
});

describe('stripe customer search by name', () => {
  it('finds customers by part of their name through Stripe\'s search API, case-insensitively', async () => {
    const search = tool('stripe_search_customers');
    const { intent, result } = await run('stripe_search_customers', { name: 'jAnE' });
    expect(intent.summary).toBe('Search Stripe customers whose name contains "jAnE"');
    expect((result.data.data as JsonObject[]).map((c) => c.id)).toEqual([SEED.jane]);
    expect(result.text).toBe('1 customer whose name contains "jAnE"');
    const asked = sandbox.received.at(-1)!;
    expect(asked.path).toMatch(/^\/v1\/customers\/search\?/);
    expect(new URL(asked.path, 'http://x').searchParams.get('query')).toBe('name~"jAnE"');
    const none = await search.execute(validate(search, { name: 'Nobody Here' }), ctx('r'));
    expect(none.data).toEqual({ data: [], has_more: false, next_cursor: null });
  });

  it('keeps a name with quotes inside its value: it cannot add clauses of its own', async () => {
    const search = tool('stripe_search_customers');
    const sneaky = await search.execute(validate(search, { name: 'x" OR email:"jane@example.com' }), ctx('r'));
    expect(sneaky.data.data).toEqual([]);
    expect(new URL(sandbox.received.at(-1)!.path, 'http://x').searchParams.get('query')).toBe('name~"x\\" OR email:\\"jane@example.com"');
  });

  it('pages with an opaque cursor, refuses another tool\'s cursor, and needs 3 characters', async () => {
    const search = tool('stripe_search_customers');
    // "ace" is in Grace Hopper and Ada Lovelace: two pages of one.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await search.execute(validate(search, { name: 'ACE', limit: 1, ...(cursor ? { cursor } : {}) }), ctx('r'));
      seen.push(...(page.data.data as JsonObject[]).map((c) => String(c.id)));
      cursor = page.data.has_more ? String(page.data.next_cursor) : undefined;
      pages += 1;
    } while (cursor && pages < 5);
    expect(pages).toBe(2);
    expect(seen.sort()).toEqual(['cus_SbxAdaLovel00003', 'cus_SbxGraceHop00005']);
    expect(() => validate(search, { name: 'Ja' })).toThrow(/at least 3 characters/);
    const other = (await tool('stripe_list_customers').execute({ limit: 1 }, ctx('r'))).data.next_cursor as string;
    await expect(search.execute(validate(search, { name: 'Jane', cursor: other }), ctx('r'))).rejects.toThrow(/is not one stripe_search_customers issued/);
  });
});

describe('stripe write intents', () => {
  it('refund: names amount, customer and what the charge has left; pins the charge', async () => {
    const { intent, result } = await run('stripe_create_refund', { charge: SEED.janeCharge });
    expect(intent.summary).toBe(`Refund $120.00 USD to customer ${SEED.jane} on charge ${SEED.janeCharge} (of $120.00, nothing refunded yet)`);
    // The customer's name was written on Stripe: a quoted field with its author, never in the summary.
    expect(intent.fields).toContainEqual({ label: 'Customer name', kind: 'text', value: 'Jane Doe', writtenBy: { on: 'Stripe', by: null } });
    expect(intent).toMatchObject({ consequence: 'moves-money', reversible: false });
    expect(intent.fields[0]).toEqual({ label: 'Refund amount', kind: 'money', value: 12_000, currency: 'USD' });
    expect(intent.pins).toEqual({ charge: SEED.janeCharge, amount: 12_000, amount_refunded: 0, currency: 'USD' });
    expect(result.data).toMatchObject({ object: 'refund', amount: 12_000, status: 'succeeded' });
    // An omitted amount is sent explicitly, as approved.
    expect(sandbox.received.at(-1)?.body).toMatchObject({ charge: SEED.janeCharge, amount: '12000' });
    expect(sandbox.state.get('charges', SEED.janeCharge)?.amount_refunded).toBe(12_000);
  });

  it('refund by payment intent, partial, in a zero-decimal currency, with agent text', async () => {
    const yen = await tool('stripe_create_refund').describe({ charge: SEED.alanYenCharge, amount: 500, metadata: { note: 'sorry' } });
    expect(yen.summary).toBe(`Refund ¥500 JPY to customer cus_SbxAlanTuri00004 on charge ${SEED.alanYenCharge} (of ¥12,000, nothing refunded yet)`);
    expect(yen.agentText).toEqual([{ label: 'Refund metadata "note"', text: 'sorry' }]);
    sandbox.state.refundOutsideCountersign(SEED.janeCharge, 2_000);
    const partial = await tool('stripe_create_refund').describe({ payment_intent: SEED.janePaymentIntent, amount: 5_000 });
    expect(partial.summary).toBe(`Refund $50.00 USD to customer ${SEED.jane} on charge ${SEED.janeCharge} (of $120.00, $20.00 already refunded)`);
  });

  it('refund above the refundable remainder is refused at describe', async () => {
    sandbox.state.refundOutsideCountersign(SEED.janeCharge, 2_000);
    await expect(tool('stripe_create_refund').describe({ charge: SEED.janeCharge, amount: 11_000 })).rejects.toMatchObject({
      code: 'invalid_arguments',
      message: `refund amount $110.00 USD exceeds what remains refundable on charge ${SEED.janeCharge}: $100.00 USD of $120.00 ($20.00 already refunded). Pass amount at most 10000 (minor units), or omit it to refund the remainder.`,
    });
    await expect(tool('stripe_create_refund').describe({ charge: SEED.johnFailedCharge })).rejects.toThrow(/status failed; only a succeeded charge/);
    expect(sandbox.received.some((r) => r.method === 'POST')).toBe(false);
  });

  it('refund pins drift when the charge is refunded elsewhere after approval', async () => {
    const approved = await tool('stripe_create_refund').describe({ charge: SEED.janeCharge, amount: 1_000 });
    sandbox.state.refundOutsideCountersign(SEED.janeCharge, 500);
    const now = await tool('stripe_create_refund').describe({ charge: SEED.janeCharge, amount: 1_000 });
    expect(() => checkPins(approved.pins, now.pins)).toThrow(/amount_refunded was 0, now 500/);
  });

  it('payout, payment link, cancel subscription and email change', async () => {
    const payout = await run('stripe_create_payout', { amount: 50_000, currency: 'usd', description: 'weekly sweep' }, 'payout');
    expect(payout.intent.summary).toBe('Pay out $500.00 USD to the default bank account (balance available $1,234.00 USD)');
    expect(payout.intent.pins).toEqual({ currency: 'USD' });
    expect(payout.intent.agentText).toEqual([{ label: 'Payout description', text: 'weekly sweep' }]);
    expect(payout.result.data).toMatchObject({ object: 'payout', amount: 50_000, currency: 'usd', livemode: false });
    await expect(tool('stripe_create_payout').describe({ amount: 100_000, currency: 'usd' })).rejects.toThrow(
      'payout of $1,000.00 USD exceeds the available balance of $734.00 USD',
    );

    const link = await run('stripe_create_payment_link', { price: SEED.proPrice, quantity: 2 }, 'link');
    expect(link.intent.summary).toBe(`Create a payment link for 2 × ${SEED.proPrice} at $29.00 USD per month (total $58.00 USD per month)`);
    expect(link.intent.fields).toContainEqual({ label: 'Item 1 product', kind: 'text', value: 'Pro plan', writtenBy: { on: 'Stripe', by: null } });
    expect(link.intent).toMatchObject({ consequence: 'writes', reversible: true });
    expect(String(link.result.data.url)).toMatch(/^https:\/\/buy\.stripe\.com\/test_/);
    const mixed = await tool('stripe_create_payment_link').describe({
      line_items: [{ price: SEED.proPrice, quantity: 1 }, { price: SEED.stickerPrice, quantity: 3 }],
    });
    expect(mixed.summary).toBe(`Create a payment link for 1 × ${SEED.proPrice} at $29.00 USD per month + 3 × ${SEED.stickerPrice} at $5.00 USD`);

    const cancel = await run('stripe_cancel_subscription', { subscription: SEED.janeSubscription }, 'cancel');
    expect(cancel.intent.summary).toBe(`Cancel subscription ${SEED.janeSubscription} of customer ${SEED.jane} (${SEED.proPrice}, $29.00 USD per month, active)`);
    expect(cancel.intent).toMatchObject({ consequence: 'writes', reversible: false, pins: { status: 'active' } });
    expect(cancel.result.data.status).toBe('canceled');
    expect(sandbox.received.at(-1)).toMatchObject({ method: 'DELETE', idempotencyKey: 'countersign-cancel' });
    await expect(tool('stripe_cancel_subscription').describe({ subscription: SEED.janeSubscription })).rejects.toThrow(/already canceled/);

    const email = await run('stripe_update_customer_email', { customer: SEED.jane, email: 'new@example.com' }, 'email');
    expect(email.intent.summary).toBe(`Change the email of customer ${SEED.jane} from jane@example.com to new@example.com`);
    expect(email.intent.pins).toEqual({ email: 'jane@example.com' });
    expect(email.result.data.email).toBe('new@example.com');
  });

  it('every write sends the request idempotency key; reads send none', async () => {
    await run('stripe_create_refund', { charge: SEED.janeCharge, amount: 100 }, 'a');
    await run('stripe_create_payout', { amount: 100, currency: 'usd' }, 'b');
    await run('stripe_create_payment_link', { price: SEED.stickerPrice }, 'c');
    await run('stripe_update_customer_email', { customer: SEED.jane, email: 'x@example.com' }, 'd');
    await run('stripe_cancel_subscription', { subscription: SEED.janeSubscription }, 'e');
    const writes = sandbox.received.filter((r) => r.method !== 'GET');
    expect(writes.map((r) => r.idempotencyKey)).toEqual(['a', 'b', 'c', 'd', 'e'].map((id) => `countersign-${id}`));
    expect(sandbox.received.filter((r) => r.method === 'GET').every((r) => r.idempotencyKey === null)).toBe(true);
  });
});
