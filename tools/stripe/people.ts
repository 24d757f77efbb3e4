/**
 * How a Stripe customer is named in intents: "Jane Doe <jane@example.com>", or whatever part of that exists.
 */
import type Stripe from 'stripe';
import type { IntentField } from '../../kernel/index.ts';

type CustomerRef = string | Stripe.Customer | Stripe.DeletedCustomer | null | undefined;

/** The live customer object, or null for none, a bare id (not expanded) or a deleted customer. */
export function liveCustomer(ref: CustomerRef): Stripe.Customer | null {
  if (ref === null || ref === undefined || typeof ref === 'string') return null;
  return 'deleted' in ref && ref.deleted ? null : (ref as Stripe.Customer);
}

/** "Jane Doe <jane@example.com>", "Jane Doe", "jane@example.com" or the id. */
export function customerLabel(customer: Stripe.Customer): string {
  if (customer.name && customer.email) return `${customer.name} <${customer.email}>`;
  return customer.name || customer.email || `customer ${customer.id}`;
}

/** Just the name (or email, or id): for sentences that already say what the customer is. */
export function customerName(customer: Stripe.Customer): string {
  return customer.name || customer.email || customer.id;
}

/** The fields every screen shows for a customer. */
export function customerFields(customer: Stripe.Customer): IntentField[] {
  const fields: IntentField[] = [{ label: 'Customer', kind: 'person', value: customerName(customer) }];
  if (customer.email) fields.push({ label: 'Customer email', kind: 'email', value: customer.email });
  fields.push({ label: 'Customer id', kind: 'account', value: customer.id });
  return fields;
}

/** "per month", "every 3 months", or "" for a one-time price. */
export function cadence(recurring: { interval: string; interval_count: number } | null | undefined): string {
  if (!recurring) return '';
  return recurring.interval_count === 1 ? `per ${recurring.interval}` : `every ${recurring.interval_count} ${recurring.interval}s`;
}

/** The metadata key that tags every write with its Countersign request id, so `reconcile` can find it. */
export const REQUEST_TAG = 'countersign_request_id';
