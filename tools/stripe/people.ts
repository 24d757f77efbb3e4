/**
 * How a Stripe customer appears in intents. A customer's name (and a product's) is free text someone wrote on
 * Stripe, the account's staff or the customer at checkout, so it is a quoted field with its author and never part of
 * a summary; summaries name customers by id.
 */
import type Stripe from 'stripe';
import type { IntentField } from '../../kernel/index.ts';

type CustomerRef = string | Stripe.Customer | Stripe.DeletedCustomer | null | undefined;

/** The live customer object, or null for none, a bare id (not expanded) or a deleted customer. */
export function liveCustomer(ref: CustomerRef): Stripe.Customer | null {
  if (ref === null || ref === undefined || typeof ref === 'string') return null;
  return 'deleted' in ref && ref.deleted ? null : (ref as Stripe.Customer);
}

/** Free text written on Stripe: a quoted field. Stripe does not say who wrote a name, so no author is named. */
export function writtenOnStripe(label: string, text: string): IntentField {
  return { label, kind: 'text', value: text, writtenBy: { on: 'Stripe', by: null } };
}

/** The fields every screen shows for a customer: its id (what the summary names), name and email. */
export function customerFields(customer: Stripe.Customer): IntentField[] {
  const fields: IntentField[] = [{ label: 'Customer id', kind: 'account', value: customer.id }];
  if (customer.name) fields.push(writtenOnStripe('Customer name', customer.name));
  if (customer.email) fields.push({ label: 'Customer email', kind: 'email', value: customer.email });
  return fields;
}

/** A product's name from an expanded price, or null when the product was not expanded. */
export function productName(price: Stripe.Price): string | null {
  const product = price.product;
  return typeof product === 'object' && product !== null && 'name' in product ? product.name : null;
}

/** "per month", "every 3 months", or "" for a one-time price. */
export function cadence(recurring: { interval: string; interval_count: number } | null | undefined): string {
  if (!recurring) return '';
  return recurring.interval_count === 1 ? `per ${recurring.interval}` : `every ${recurring.interval_count} ${recurring.interval}s`;
}

/** The metadata key that tags every write with its Countersign request id, so `reconcile` can find it. */
export const REQUEST_TAG = 'countersign_request_id';
