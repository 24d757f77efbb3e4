/**
 * `stripe_update_customer_email`: receipts and invoices go to this address, so the intent shows the old and the
 * new one, and pins the old one so a change made elsewhere after approval refuses execution.
 */
import type Stripe from 'stripe';
import { z } from 'zod';
import { KernelError, type JsonObject } from '../../kernel/index.ts';
import { defineTool, type ToolSpec } from '../spec.ts';
import { IDEMPOTENT_RERUN, type StripeApi } from './client.ts';
import { customerFields, liveCustomer } from './people.ts';
import { stripeId } from './reads.ts';

const input = z.object({ customer: stripeId('cus', 'a customer'), email: z.email().max(512).describe('The new email address') });

/** The update-customer-email tool. */
export function updateCustomerEmailTool(api: StripeApi): ToolSpec {
  const result = (c: Stripe.Customer) => ({ data: c as unknown as JsonObject, text: `Customer ${c.id} now has email ${c.email ?? '(none)'}` });

  return defineTool({
    name: 'stripe_update_customer_email',
    title: 'Change a Stripe customer email',
    description: "Change a customer's email address (where Stripe sends receipts and invoices).",
    input,
    impact: 'write',
    consequence: 'writes',
    async describe(a) {
      const found = await api.call(`retrieve customer ${a.customer}`, (s) => s.customers.retrieve(a.customer));
      const customer = liveCustomer(found);
      if (!customer) throw new KernelError('invalid_arguments', `customer ${a.customer} is deleted; a deleted customer cannot be changed`);
      if (customer.email === a.email) {
        throw new KernelError('invalid_arguments', `customer ${a.customer} already has email ${a.email}; nothing to change`);
      }
      // The new address passed z.email(); the current one is named in the sentence only when it is one too.
      const who = `customer ${customer.id}`;
      const current = customer.email && z.email().safeParse(customer.email).success ? customer.email : null;
      const summary = customer.email
        ? `Change the email of ${who} from ${current ?? 'its current address (below)'} to ${a.email}`
        : `Set the email of ${who} to ${a.email} (it has none now)`;
      return {
        summary,
        consequence: 'writes',
        reversible: true,
        fields: [
          ...customerFields({ ...customer, email: null }),
          { label: 'Current email', kind: 'email', value: customer.email ?? '(none)' },
          { label: 'New email', kind: 'email', value: a.email },
        ],
        pins: { email: customer.email ?? null },
      };
    },
    async execute(a, ctx) {
      return result(await api.call(`update customer ${a.customer}`, (s) =>
        s.customers.update(a.customer, { email: a.email }, { idempotencyKey: ctx.idempotencyKey }), { write: true }));
    },
    rerunSafe: IDEMPOTENT_RERUN,
    async reconcile(a) {
      const found = liveCustomer(await api.call(`retrieve customer ${a.customer}`, (s) => s.customers.retrieve(a.customer)));
      return found && found.email === a.email ? result(found) : null;
    },
  });
}
