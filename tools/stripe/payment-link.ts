/**
 * `stripe_create_payment_link`: creates a hosted checkout link. It moves no money by itself (a customer must pay
 * through it) and can be deactivated, so it is a reversible write. Prices are pinned: a price edited after
 * approval would make the link charge something nobody approved.
 */
import type Stripe from 'stripe';
import { z } from 'zod';
import { KernelError, type Json, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { IDEMPOTENT_RERUN, type StripeApi } from './client.ts';
import { formatMoney, moneyField } from './money.ts';
import { REQUEST_TAG, cadence, productName, writtenOnStripe } from './people.ts';
import { stripeId } from './reads.ts';

const quantity = z.number().int().min(1).max(999_999);
const input = z
  .object({
    price: stripeId('price', 'a price').optional().describe('The one price to sell (price_...), with quantity'),
    quantity: quantity.optional().describe('with price; default 1'),
    line_items: z.array(z.object({ price: stripeId('price', 'a price'), quantity })).min(1).max(20).optional().describe('Several prices, each with its quantity (instead of price)'),
  })
  .refine((a) => (a.price === undefined) !== (a.line_items === undefined), {
    message: 'pass either price (with an optional quantity) or line_items, not both and not neither',
    path: ['price'],
  })
  .refine((a) => a.quantity === undefined || a.price !== undefined, { message: 'quantity goes with price; inside line_items give each item its own quantity', path: ['quantity'] });
type Args = z.infer<typeof input>;

const itemsOf = (a: Args) => a.line_items ?? [{ price: a.price as string, quantity: a.quantity ?? 1 }];

/** The payment link tool. */
export function paymentLinkTool(api: StripeApi): ToolSpec {
  const result = (link: Stripe.PaymentLink) => ({ data: link as unknown as JsonObject, text: `Payment link ${link.id} created: ${link.url}` });

  return defineTool({
    name: 'stripe_create_payment_link',
    title: 'Create a Stripe payment link',
    description: 'Create a payment link for a price and quantity, or for several line_items. Customers pay through the link.',
    input,
    impact: 'write',
    consequence: 'writes',
    async describe(a) {
      const items = itemsOf(a);
      const prices = await Promise.all(items.map((item) =>
        api.call(`retrieve price ${item.price}`, (s) => s.prices.retrieve(item.price, { expand: ['product'] }))));
      const parts: string[] = [];
      const fields: ReturnType<typeof moneyField>[] = [];
      const pins: Json[] = [];
      prices.forEach((price, i) => {
        if (!price.active) throw new KernelError('invalid_arguments', `price ${price.id} is archived (inactive); payment links need an active price`);
        // The price by id in the sentence; the product's name is free text written on Stripe, a quoted field.
        const name = productName(price);
        const cur = price.currency.toUpperCase();
        const each = price.unit_amount === null ? 'a variable amount' : `${formatMoney(price.unit_amount, cur)}${cadence(price.recurring) ? ` ${cadence(price.recurring)}` : ''}`;
        parts.push(`${items[i].quantity} × ${price.id} at ${each}`);
        fields.push({ label: `Item ${i + 1}`, kind: 'text', value: `${items[i].quantity} × ${price.id}` });
        if (name) fields.push(writtenOnStripe(`Item ${i + 1} product`, name));
        if (price.unit_amount !== null) fields.push(moneyField(`Item ${i + 1} unit price`, price.unit_amount, cur));
        pins.push({ price: price.id, unit_amount: price.unit_amount, currency: cur, recurring: cadence(price.recurring) || null });
      });
      const total = totalOf(prices, items.map((item) => item.quantity));
      if (total) fields.push(moneyField('Total', total.amount, total.currency));
      const totalText = total ? ` (total ${formatMoney(total.amount, total.currency)}${total.cadence ? ` ${total.cadence}` : ''})` : '';
      return {
        summary: `Create a payment link for ${parts.join(' + ')}${totalText}`,
        consequence: 'writes',
        reversible: true,
        fields,
        pins: { line_items: pins },
      };
    },
    async execute(a, ctx) {
      const params: Stripe.PaymentLinkCreateParams = { line_items: itemsOf(a), metadata: { [REQUEST_TAG]: ctx.requestId } };
      return result(await api.call('create the payment link', (s) => s.paymentLinks.create(params, { idempotencyKey: ctx.idempotencyKey }), { write: true }));
    },
    rerunSafe: IDEMPOTENT_RERUN,
    async reconcile(_a, ctx) {
      const links = await api.call('list recent payment links', (s) => s.paymentLinks.list({ limit: 100 }));
      const mine = links.data.find((l) => l.metadata?.[REQUEST_TAG] === ctx.requestId);
      return mine ? result(mine) : null;
    },
  });
}

/** One total only when every item shares a currency and a cadence; otherwise a sum would mislead. */
function totalOf(prices: Stripe.Price[], quantities: number[]): { amount: number; currency: string; cadence: string } | null {
  const currencies = new Set(prices.map((p) => p.currency.toUpperCase()));
  const cadences = new Set(prices.map((p) => cadence(p.recurring)));
  if (currencies.size !== 1 || cadences.size !== 1 || prices.some((p) => p.unit_amount === null)) return null;
  const amount = prices.reduce((sum, p, i) => sum + (p.unit_amount as number) * quantities[i], 0);
  return { amount, currency: [...currencies][0], cadence: [...cadences][0] };
}
