/**
 * The sandbox's account: realistic seed data and the mutations the endpoints perform. Everything is test mode
 * (`livemode: false`). Ids of the seed are fixed so tests and demos can name them.
 */
import type { JsonObject } from '../../../kernel/index.ts';
import { invalid } from './errors.ts';

export const SEED = {
  jane: 'cus_SbxJaneDoe00001',
  janeCharge: 'ch_3SbxJaneCharge0001',
  janePaymentIntent: 'pi_3SbxJanePayment01',
  janeSubscription: 'sub_1SbxJanePro00001',
  johnFailedCharge: 'ch_3SbxJohnFailed0001',
  alanYenCharge: 'ch_3SbxAlanYen000001',
  proProduct: 'prod_SbxProPlan0001',
  proPrice: 'price_1SbxProMonthly01',
  stickerPrice: 'price_1SbxStickers0001',
} as const;

export type Collection =
  | 'customers'
  | 'charges'
  | 'payment_intents'
  | 'products'
  | 'prices'
  | 'subscriptions'
  | 'refunds'
  | 'payouts'
  | 'payment_links';

const PREFIXES: Record<string, Collection> = {
  cus: 'customers',
  ch: 'charges',
  pi: 'payment_intents',
  prod: 'products',
  price: 'prices',
  sub: 'subscriptions',
  re: 'refunds',
  po: 'payouts',
  plink: 'payment_links',
};

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z: seed objects are created one hour apart from here.

export class SandboxState {
  readonly objects: Record<Collection, Map<string, JsonObject>> = {
    customers: new Map(),
    charges: new Map(),
    payment_intents: new Map(),
    products: new Map(),
    prices: new Map(),
    subscriptions: new Map(),
    refunds: new Map(),
    payouts: new Map(),
    payment_links: new Map(),
  };
  /** Available and pending balance per lowercase currency, in minor units. */
  readonly balance: Map<string, { available: number; pending: number }> = new Map();
  private counter = 0;

  constructor() {
    seed(this);
  }

  /** A fresh id in Stripe's shape (`re_...`), unique within this sandbox. */
  newId(prefix: string): string {
    this.counter += 1;
    return `${prefix}_Sbx${String(this.counter).padStart(12, '0')}`;
  }

  now(): number {
    return Math.floor(Date.now() / 1000);
  }

  put(collection: Collection, object: JsonObject): JsonObject {
    this.objects[collection].set(String(object.id), object);
    return object;
  }

  get(collection: Collection, id: string): JsonObject | undefined {
    return this.objects[collection].get(id);
  }

  /** Any object by id, from its prefix: used to expand `customer`, `product` and similar references. */
  byId(id: string): JsonObject | undefined {
    const collection = PREFIXES[id.slice(0, id.indexOf('_'))];
    return collection === undefined ? undefined : this.objects[collection].get(id);
  }

  /** Newest first, as Stripe lists. */
  list(collection: Collection): JsonObject[] {
    return [...this.objects[collection].values()].reverse();
  }

  /** Moves available balance, refusing (as Stripe does) when there is not enough. */
  debit(currency: string, amount: number): void {
    const entry = this.balance.get(currency) ?? { available: 0, pending: 0 };
    if (entry.available < amount) {
      throw invalid(
        'You have insufficient funds in your Stripe account for this transfer. Your card balance is too low.',
        'amount',
        'balance_insufficient',
      );
    }
    entry.available -= amount;
    this.balance.set(currency, entry);
  }

  /** Test hook: a refund made elsewhere (the Stripe dashboard), so pins drift under an approved request. */
  refundOutsideCountersign(charge: string, amount: number): JsonObject {
    const target = this.get('charges', charge);
    if (target === undefined) throw new Error(`refundOutsideCountersign: no charge ${charge} in the sandbox`);
    const refunded = Number(target.amount_refunded) + amount;
    if (refunded > Number(target.amount)) throw new Error(`refundOutsideCountersign: ${amount} exceeds what remains`);
    target.amount_refunded = refunded;
    target.refunded = refunded === Number(target.amount);
    return this.put('refunds', {
      id: this.newId('re'),
      object: 'refund',
      amount,
      charge,
      payment_intent: target.payment_intent,
      currency: target.currency,
      status: 'succeeded',
      reason: null,
      metadata: {},
      created: this.now(),
    });
  }

  /** Test hook: change a customer's email as if someone edited it in the dashboard. */
  setCustomerEmail(customer: string, email: string | null): void {
    const target = this.get('customers', customer);
    if (target === undefined) throw new Error(`setCustomerEmail: no customer ${customer} in the sandbox`);
    target.email = email;
  }
}

function seed(state: SandboxState): void {
  let hour = 0;
  const created = (): number => T0 + 3600 * (hour += 1);
  const people: [string, string, string][] = [
    ['cus_SbxGraceHop00005', 'Grace Hopper', 'grace@example.com'],
    ['cus_SbxAlanTuri00004', 'Alan Turing', 'alan@example.com'],
    ['cus_SbxAdaLovel00003', 'Ada Lovelace', 'ada@example.com'],
    ['cus_SbxJohnRoe000002', 'John Roe', 'john@example.com'],
    [SEED.jane, 'Jane Doe', 'jane@example.com'],
  ];
  for (const [id, name, email] of people) {
    state.put('customers', { id, object: 'customer', name, email, created: created(), livemode: false, metadata: {} });
  }
  const charge = (id: string, pi: string, customer: string, amount: number, currency: string, status = 'succeeded') => {
    const person = state.get('customers', customer);
    state.put('payment_intents', {
      id: pi, object: 'payment_intent', amount, currency, customer, status: status === 'succeeded' ? 'succeeded' : 'requires_payment_method',
      latest_charge: id, created: created(), livemode: false, metadata: {},
    });
    state.put('charges', {
      id, object: 'charge', amount, amount_captured: status === 'succeeded' ? amount : 0, amount_refunded: 0, currency, customer,
      payment_intent: pi, status, paid: status === 'succeeded', captured: status === 'succeeded', refunded: false,
      billing_details: { name: person?.name ?? null, email: person?.email ?? null }, description: null,
      created: created(), livemode: false, metadata: {},
    });
  };
  charge('ch_3SbxGraceCharge001', 'pi_3SbxGracePayment1', 'cus_SbxGraceHop00005', 100_000, 'usd');
  charge(SEED.alanYenCharge, 'pi_3SbxAlanPayment01', 'cus_SbxAlanTuri00004', 12_000, 'jpy');
  charge('ch_3SbxAdaCharge00001', 'pi_3SbxAdaPayment001', 'cus_SbxAdaLovel00003', 9_900, 'usd');
  charge(SEED.johnFailedCharge, 'pi_3SbxJohnPayment01', 'cus_SbxJohnRoe000002', 4_500, 'usd', 'failed');
  charge(SEED.janeCharge, SEED.janePaymentIntent, SEED.jane, 12_000, 'usd');

  state.put('products', { id: SEED.proProduct, object: 'product', name: 'Pro plan', active: true, created: created(), livemode: false });
  state.put('products', { id: 'prod_SbxStickers001', object: 'product', name: 'Sticker pack', active: true, created: created(), livemode: false });
  const proPrice = state.put('prices', {
    id: SEED.proPrice, object: 'price', product: SEED.proProduct, unit_amount: 2_900, currency: 'usd', type: 'recurring',
    recurring: { interval: 'month', interval_count: 1 }, active: true, created: created(), livemode: false,
  });
  state.put('prices', {
    id: SEED.stickerPrice, object: 'price', product: 'prod_SbxStickers001', unit_amount: 500, currency: 'usd', type: 'one_time',
    recurring: null, active: true, created: created(), livemode: false,
  });
  const subscription = (id: string, customer: string, status: string) =>
    state.put('subscriptions', {
      id, object: 'subscription', customer, status, currency: 'usd', created: created(), livemode: false, metadata: {},
      canceled_at: status === 'canceled' ? T0 : null,
      items: { object: 'list', has_more: false, url: `/v1/subscription_items?subscription=${id}`,
        data: [{ id: `si_${id.slice(4)}`, object: 'subscription_item', price: structuredClone(proPrice), quantity: 1 }] },
    });
  subscription('sub_1SbxJohnPro00002', 'cus_SbxJohnRoe000002', 'canceled');
  subscription(SEED.janeSubscription, SEED.jane, 'active');
  state.balance.set('usd', { available: 123_400, pending: 0 });
  state.balance.set('jpy', { available: 50_000, pending: 0 });
}
