/**
 * The sandbox's seed: Jane Doe with a succeeded $120.00 charge and an active Pro subscription, a few more customers
 * and charges (one failed, one in JPY) for pagination and edge cases, and $1,234.00 available. Fixed ids, so tests
 * and demos can name them.
 */
import type { SandboxState } from './state.ts';

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

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z: seed objects are created one hour apart from here.

const PEOPLE: [id: string, name: string, email: string][] = [
  ['cus_SbxGraceHop00005', 'Grace Hopper', 'grace@example.com'],
  ['cus_SbxAlanTuri00004', 'Alan Turing', 'alan@example.com'],
  ['cus_SbxAdaLovel00003', 'Ada Lovelace', 'ada@example.com'],
  ['cus_SbxJohnRoe000002', 'John Roe', 'john@example.com'],
  [SEED.jane, 'Jane Doe', 'jane@example.com'], // last in, so first in lists (newest first)
];

const CHARGES: [charge: string, intent: string, customer: string, amount: number, currency: string, status: string][] = [
  ['ch_3SbxGraceCharge001', 'pi_3SbxGracePayment1', 'cus_SbxGraceHop00005', 100_000, 'usd', 'succeeded'],
  [SEED.alanYenCharge, 'pi_3SbxAlanPayment01', 'cus_SbxAlanTuri00004', 12_000, 'jpy', 'succeeded'],
  ['ch_3SbxAdaCharge00001', 'pi_3SbxAdaPayment001', 'cus_SbxAdaLovel00003', 9_900, 'usd', 'succeeded'],
  [SEED.johnFailedCharge, 'pi_3SbxJohnPayment01', 'cus_SbxJohnRoe000002', 4_500, 'usd', 'failed'],
  [SEED.janeCharge, SEED.janePaymentIntent, SEED.jane, 12_000, 'usd', 'succeeded'],
];

/** Fill a fresh state with the seed. */
export function seed(state: SandboxState): void {
  let hour = 0;
  const created = (): number => T0 + 3600 * (hour += 1);
  const common = () => ({ created: created(), livemode: false });

  for (const [id, name, email] of PEOPLE) {
    state.put('customers', { id, object: 'customer', name, email, metadata: {}, ...common() });
  }
  for (const [id, pi, customer, amount, currency, status] of CHARGES) {
    const person = state.get('customers', customer);
    const paid = status === 'succeeded';
    state.put('payment_intents', {
      id: pi, object: 'payment_intent', amount, currency, customer, latest_charge: id, metadata: {},
      status: paid ? 'succeeded' : 'requires_payment_method', ...common(),
    });
    state.put('charges', {
      id, object: 'charge', amount, amount_captured: paid ? amount : 0, amount_refunded: 0, currency, customer,
      payment_intent: pi, status, paid, captured: paid, refunded: false, description: null, metadata: {},
      billing_details: { name: person?.name ?? null, email: person?.email ?? null }, ...common(),
    });
  }

  state.put('products', { id: SEED.proProduct, object: 'product', name: 'Pro plan', active: true, ...common() });
  state.put('products', { id: 'prod_SbxStickers001', object: 'product', name: 'Sticker pack', active: true, ...common() });
  const proPrice = state.put('prices', {
    id: SEED.proPrice, object: 'price', product: SEED.proProduct, unit_amount: 2_900, currency: 'usd', type: 'recurring',
    recurring: { interval: 'month', interval_count: 1 }, active: true, ...common(),
  });
  state.put('prices', {
    id: SEED.stickerPrice, object: 'price', product: 'prod_SbxStickers001', unit_amount: 500, currency: 'usd',
    type: 'one_time', recurring: null, active: true, ...common(),
  });

  for (const [id, customer, status] of [
    ['sub_1SbxJohnPro00002', 'cus_SbxJohnRoe000002', 'canceled'],
    [SEED.janeSubscription, SEED.jane, 'active'],
  ]) {
    state.put('subscriptions', {
      id, object: 'subscription', customer, status, currency: 'usd', metadata: {}, canceled_at: status === 'canceled' ? T0 : null,
      items: {
        object: 'list', has_more: false, url: `/v1/subscription_items?subscription=${id}`,
        data: [{ id: `si_${id.slice(4)}`, object: 'subscription_item', price: structuredClone(proPrice), quantity: 1 }],
      },
      ...common(),
    });
  }

  state.balance.set('usd', { available: 123_400, pending: 0 });
  state.balance.set('jpy', { available: 50_000, pending: 0 });
}
