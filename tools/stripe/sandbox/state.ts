/**
 * The sandbox's account: its objects by collection, its balance, and the mutations tests use to simulate changes
 * made outside Countersign. Everything is test mode (`livemode: false`); the seed lives in seed.ts.
 */
import type { JsonObject } from '../../../kernel/index.ts';
import { invalid } from './errors.ts';
import { seed } from './seed.ts';

export { SEED } from './seed.ts';

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
