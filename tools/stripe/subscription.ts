/**
 * `stripe_cancel_subscription`, consequence `writes`: canceling stops future billing but moves no money now
 * (no proration refund, no final invoice is requested), so a money budget in policy must not count it. It is
 * still `high` impact and irreversible: Stripe cannot reactivate a canceled subscription, only start a new one.
 */
import type Stripe from 'stripe';
import { z } from 'zod';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { IDEMPOTENT_RERUN, type StripeApi } from './client.ts';
import { formatMoney, moneyField } from './money.ts';
import { cadence, customerFields, liveCustomer, productName, writtenOnStripe } from './people.ts';
import { stripeId } from './reads.ts';

const input = z.object({ subscription: stripeId('sub', 'a subscription') });

/** The cancel-subscription tool. */
export function cancelSubscriptionTool(api: StripeApi): ToolSpec {
  const result = (sub: Stripe.Subscription) => ({ data: sub as unknown as JsonObject, text: `Subscription ${sub.id} is now ${sub.status}` });

  return defineTool({
    name: 'stripe_cancel_subscription',
    title: 'Cancel a Stripe subscription',
    description: 'Cancel a subscription immediately: billing stops and it cannot be reactivated. May need approval, depending on policy.',
    input,
    impact: 'high',
    consequence: 'writes',
    async describe(a) {
      const sub = await api.call(`retrieve subscription ${a.subscription}`, (s) =>
        s.subscriptions.retrieve(a.subscription, { expand: ['customer', 'items.data.price.product'] }));
      if (sub.status === 'canceled') {
        throw new KernelError('invalid_arguments', `subscription ${sub.id} is already canceled; nothing to do`);
      }
      const customer = liveCustomer(sub.customer);
      // Prices by id in the sentence; product names are free text written on Stripe, so they are quoted fields.
      const plans = sub.items.data.map((item) => {
        const price = item.price;
        const amount = price.unit_amount === null ? 'variable amount' : `${formatMoney(price.unit_amount, price.currency)} ${cadence(price.recurring)}`.trim();
        return `${(item.quantity ?? 1) > 1 ? `${item.quantity} × ` : ''}${price.id}, ${amount}`;
      });
      const fields = [
        { label: 'Subscription', kind: 'text' as const, value: sub.id },
        { label: 'Status', kind: 'text' as const, value: sub.status },
        ...(customer ? customerFields(customer) : []),
        ...sub.items.data.flatMap((item) => {
          const name = productName(item.price);
          return [
            ...(name ? [writtenOnStripe(`Product of ${item.price.id}`, name)] : []),
            ...(item.price.unit_amount === null ? [] : [moneyField(`Price of ${item.price.id}`, item.price.unit_amount, item.price.currency)]),
          ];
        }),
      ];
      const of = customer ? ` of customer ${customer.id}` : '';
      return {
        summary: `Cancel subscription ${sub.id}${of} (${[...plans, sub.status].join(', ')})`,
        consequence: 'writes',
        reversible: false,
        fields,
        pins: { status: sub.status },
      };
    },
    async execute(a, ctx) {
      return result(await api.call(`cancel subscription ${a.subscription}`, (s) =>
        s.subscriptions.cancel(a.subscription, {}, { idempotencyKey: ctx.idempotencyKey }), { write: true }));
    },
    rerunSafe: IDEMPOTENT_RERUN,
    async reconcile(a) {
      // Canceled is canceled: if it is, the approved effect holds whoever's call got there first.
      const sub = await api.call(`retrieve subscription ${a.subscription}`, (s) => s.subscriptions.retrieve(a.subscription));
      return sub.status === 'canceled' ? result(sub) : null;
    },
  });
}
