/**
 * `stripe_create_refund`: money leaves the account and cannot come back, so the intent names the amount, the
 * customer and what the charge has left, and pins the charge so a refund made elsewhere meanwhile refuses execution.
 */
import type Stripe from 'stripe';
import { z } from 'zod';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import { IDEMPOTENT_RERUN, type StripeApi } from './client.ts';
import { formatAmount, formatMoney, moneyField } from './money.ts';
import { REQUEST_TAG, customerFields, liveCustomer, writtenOnStripe } from './people.ts';
import { stripeId } from './reads.ts';

export const metadataInput = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, 'metadata keys are 1 to 40 letters, digits, _ . -'), z.string().max(500))
  .refine((m) => Object.keys(m).length <= 20, 'at most 20 metadata keys')
  .refine((m) => !(REQUEST_TAG in m), `metadata key ${REQUEST_TAG} is reserved for Countersign`);

const input = z
  .object({
    charge: stripeId('ch', 'a charge').optional(),
    payment_intent: stripeId('pi', 'a payment intent').optional(),
    amount: z.number().int().min(1).max(99_999_999).optional().describe('in minor units (cents); omit to refund all that remains'),
    reason: z.enum(['duplicate', 'fraudulent', 'requested_by_customer']).optional().describe('Why, as Stripe records it'),
    metadata: metadataInput.optional().describe('Your own key-value notes stored on the refund'),
  })
  .refine((a) => (a.charge === undefined) !== (a.payment_intent === undefined), {
    message: 'pass exactly one of charge (ch_...) or payment_intent (pi_...)',
    path: ['charge'],
  });
type Args = z.infer<typeof input>;

/** The refund tool. */
export function refundTool(api: StripeApi): ToolSpec {
  async function chargeOf(a: Args): Promise<Stripe.Charge> {
    let chargeId = a.charge;
    if (a.payment_intent !== undefined) {
      const pi = a.payment_intent;
      const intent = await api.call(`retrieve payment intent ${pi}`, (s) => s.paymentIntents.retrieve(pi));
      if (!intent.latest_charge) {
        throw new KernelError('invalid_arguments', `payment intent ${pi} has no charge to refund (status ${intent.status}); refund a succeeded payment`);
      }
      chargeId = typeof intent.latest_charge === 'string' ? intent.latest_charge : intent.latest_charge.id;
    }
    const id = chargeId as string;
    return api.call(`retrieve charge ${id}`, (s) => s.charges.retrieve(id, { expand: ['customer'] }));
  }

  async function describe(a: Args): Promise<Described> {
    const charge = await chargeOf(a);
    const cur = charge.currency.toUpperCase();
    if (charge.status !== 'succeeded') {
      throw new KernelError('invalid_arguments', `charge ${charge.id} has status ${charge.status}; only a succeeded charge can be refunded`);
    }
    const remaining = charge.amount - charge.amount_refunded;
    if (remaining <= 0) {
      throw new KernelError('invalid_arguments', `charge ${charge.id} is already fully refunded (${formatMoney(charge.amount, cur)}); nothing is left to refund`);
    }
    const amount = a.amount ?? remaining;
    const refunded = charge.amount_refunded === 0 ? 'nothing refunded yet' : `${formatAmount(charge.amount_refunded, cur)} already refunded`;
    if (amount > remaining) {
      throw new KernelError(
        'invalid_arguments',
        `refund amount ${formatMoney(amount, cur)} exceeds what remains refundable on charge ${charge.id}: ${formatMoney(remaining, cur)} of ${formatAmount(charge.amount, cur)} (${refunded}). Pass amount at most ${remaining} (minor units), or omit it to refund the remainder.`,
      );
    }
    const customer = liveCustomer(charge.customer);
    // Names are free text written on Stripe: the summary names the customer by id, the name is a quoted field.
    const to = customer ? `customer ${customer.id}` : 'the original payment method';
    const billingName = charge.billing_details?.name;
    const fields = [
      moneyField('Refund amount', amount, cur),
      ...(customer ? customerFields(customer) : billingName ? [writtenOnStripe('Name on the payment method', billingName)] : []),
      { label: 'Charge', kind: 'text' as const, value: charge.id },
      moneyField('Charge amount', charge.amount, cur),
      moneyField('Already refunded', charge.amount_refunded, cur),
    ];
    if (a.payment_intent) fields.push({ label: 'Payment intent', kind: 'text', value: a.payment_intent });
    if (a.reason) fields.push({ label: 'Reason', kind: 'text', value: a.reason });
    return {
      summary: `Refund ${formatMoney(amount, cur)} to ${to} on charge ${charge.id} (of ${formatAmount(charge.amount, cur)}, ${refunded})`,
      consequence: 'moves-money',
      reversible: false,
      fields,
      pins: { charge: charge.id, amount: charge.amount, amount_refunded: charge.amount_refunded, currency: cur },
      ...(a.metadata && Object.keys(a.metadata).length > 0
        ? { agentText: Object.entries(a.metadata).map(([key, text]) => ({ label: `Refund metadata "${key}"`, text })) }
        : {}),
    };
  }

  const result = (refund: Stripe.Refund) => ({
    data: refund as unknown as JsonObject,
    text: `Refunded ${formatMoney(refund.amount, refund.currency)} on charge ${String(refund.charge)} (refund ${refund.id}, ${refund.status})`,
  });

  return defineTool({
    name: 'stripe_create_refund',
    title: 'Refund a Stripe charge',
    description: 'Refund all or part of a succeeded charge (by charge or payment_intent). amount is in minor units; omit it to refund what remains. May need approval, depending on policy; money cannot be recovered once refunded.',
    input,
    impact: 'high',
    consequence: 'moves-money',
    describe,
    async execute(a, ctx) {
      // An omitted amount means "what remained when approved": send it explicitly so execution matches the intent.
      const amount = a.amount ?? Number(ctx.pins.amount) - Number(ctx.pins.amount_refunded);
      const params: Stripe.RefundCreateParams = {
        charge: a.charge, payment_intent: a.payment_intent, amount, reason: a.reason,
        metadata: { ...a.metadata, [REQUEST_TAG]: ctx.requestId },
      };
      return result(await api.call('create the refund', (s) => s.refunds.create(params, { idempotencyKey: ctx.idempotencyKey }), { write: true }));
    },
    rerunSafe: IDEMPOTENT_RERUN,
    async reconcile(_a, ctx) {
      const charge = String(ctx.pins.charge);
      const refunds = await api.call(`list refunds of charge ${charge}`, (s) => s.refunds.list({ charge, limit: 100 }));
      const mine = refunds.data.find((r) => r.metadata?.[REQUEST_TAG] === ctx.requestId);
      return mine ? result(mine) : null;
    },
  });
}
