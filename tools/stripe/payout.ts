/**
 * `stripe_create_payout`: sends available balance to the account's default bank account. The intent shows the
 * balance for context but does not pin it: the balance moves with every charge, and pinning it would refuse
 * approved payouts for no reason. Stripe itself refuses a payout the balance cannot cover.
 */
import type Stripe from 'stripe';
import { z } from 'zod';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { IDEMPOTENT_RERUN, type StripeApi } from './client.ts';
import { formatMoney, moneyField } from './money.ts';
import { REQUEST_TAG } from './people.ts';

const input = z.object({
  amount: z.number().int().min(1).max(99_999_999).describe('in minor units (cents)'),
  currency: z.string().regex(/^[A-Za-z]{3}$/, 'a three-letter ISO currency code such as usd').describe('Three-letter ISO currency code, e.g. usd'),
  description: z.string().max(1000).optional().describe('Shown on the payout in Stripe\'s dashboard'),
});

/** The payout tool. */
export function payoutTool(api: StripeApi): ToolSpec {
  const result = (payout: Stripe.Payout) => ({
    data: payout as unknown as JsonObject,
    text: `Payout ${payout.id} of ${formatMoney(payout.amount, payout.currency)} created (${payout.status}, arrives ${new Date(payout.arrival_date * 1000).toISOString().slice(0, 10)})`,
  });

  return defineTool({
    name: 'stripe_create_payout',
    title: 'Pay out Stripe balance',
    description: 'Send part of the available balance to the default bank account. amount is in minor units. May need approval, depending on policy.',
    input,
    impact: 'high',
    consequence: 'moves-money',
    async describe(a) {
      const cur = a.currency.toUpperCase();
      const balance = await api.call('retrieve the balance', (s) => s.balance.retrieve());
      const available = balance.available.find((b) => b.currency.toUpperCase() === cur)?.amount ?? 0;
      if (a.amount > available) {
        throw new KernelError(
          'invalid_arguments',
          `payout of ${formatMoney(a.amount, cur)} exceeds the available balance of ${formatMoney(available, cur)}; pass an amount at most ${available} (minor units) or wait for pending funds`,
        );
      }
      return {
        summary: `Pay out ${formatMoney(a.amount, cur)} to the default bank account (balance available ${formatMoney(available, cur)})`,
        consequence: 'moves-money',
        reversible: false,
        fields: [
          moneyField('Payout amount', a.amount, cur),
          { label: 'Destination', kind: 'account', value: 'default bank account' },
          moneyField('Available balance', available, cur),
        ],
        pins: { currency: cur },
        ...(a.description ? { agentText: [{ label: 'Payout description', text: a.description }] } : {}),
      };
    },
    async execute(a, ctx) {
      const params: Stripe.PayoutCreateParams = {
        amount: a.amount, currency: a.currency.toLowerCase(), description: a.description, metadata: { [REQUEST_TAG]: ctx.requestId },
      };
      return result(await api.call('create the payout', (s) => s.payouts.create(params, { idempotencyKey: ctx.idempotencyKey }), { write: true }));
    },
    rerunSafe: IDEMPOTENT_RERUN,
    async reconcile(_a, ctx) {
      const payouts = await api.call('list recent payouts', (s) => s.payouts.list({ limit: 100 }));
      const mine = payouts.data.find((p) => p.metadata?.[REQUEST_TAG] === ctx.requestId);
      return mine ? result(mine) : null;
    },
  });
}
