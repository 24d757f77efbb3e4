/**
 * The read tools: balance, customers, charges, payment intents, subscriptions. Arguments use Stripe's own names;
 * lists page with an opaque `cursor` (Stripe's `starting_after` underneath).
 */
import { z } from 'zod';
import type { Json, JsonObject } from '../../kernel/index.ts';
import { defineTool, type Described, type ToolSpec } from '../spec.ts';
import type { StripeApi } from './client.ts';
import { decodeCursor, decodePage, encodeCursor, listResult } from './cursor.ts';
import { formatMoney } from './money.ts';

export const stripeId = (prefix: string, noun: string) =>
  z.string().regex(new RegExp(`^${prefix}_[A-Za-z0-9]{1,255}$`), `expected ${noun} id like ${prefix}_...`).describe(`Id of ${noun} (${prefix}_...)`);

const limit = z.number().int().min(1).max(100).optional().describe('page size, 1 to 100 (Stripe default 10)');
const cursor = z.string().max(600).optional().describe('next_cursor from the previous page; omit for the first page');

const reading = (summary: string, fields: Described['fields'] = []): Promise<Described> =>
  Promise.resolve({ summary, consequence: 'reads', reversible: true, fields, pins: {} });

const json = (value: unknown) => value as JsonObject;

/** The six read tools of the Stripe connector. */
export function readTools(api: StripeApi): ToolSpec[] {
  return [
    defineTool({
      name: 'stripe_get_balance',
      title: 'Get Stripe balance',
      description: 'Read the account balance: funds available for payouts and funds pending, per currency.',
      input: z.object({}),
      impact: 'read',
      consequence: 'reads',
      describe: () => reading('Read the Stripe account balance'),
      async execute() {
        const balance = await api.call('retrieve the balance', (s) => s.balance.retrieve());
        const list = (entries: { amount: number; currency: string }[]) =>
          entries.map((e) => formatMoney(e.amount, e.currency)).join(', ') || 'nothing';
        return { data: json(balance), text: `Available: ${list(balance.available)}; pending: ${list(balance.pending)}` };
      },
    }),
    defineTool({
      name: 'stripe_list_customers',
      title: 'List Stripe customers',
      description: 'List customers, newest first, optionally only those with an exact email address.',
      input: z.object({ email: z.email().max(512).optional().describe('Only customers with exactly this email address'), limit, cursor }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(a.email ? `List Stripe customers with email ${a.email}` : 'List Stripe customers',
        a.email ? [{ label: 'Email', kind: 'email', value: a.email }] : []),
      async execute(a) {
        const starting_after = decodeCursor('stripe_list_customers', a.cursor);
        const list = await api.call('list customers', (s) => s.customers.list({ email: a.email, limit: a.limit, starting_after }));
        return listResult('stripe_list_customers', 'customer', list);
      },
    }),
    defineTool({
      name: 'stripe_search_customers',
      title: 'Search Stripe customers by name',
      description: 'Find customers whose name contains some text (Stripe search: case-insensitive, at least 3 characters). Newly created customers can take a minute to appear, as in Stripe.',
      input: z.object({
        name: z.string().trim().min(3, 'name needs at least 3 characters (Stripe\'s substring search)').max(200).describe('Part of the customer\'s name, e.g. "Jane"'),
        limit,
        cursor,
      }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(`Search Stripe customers whose name contains "${a.name}"`, [{ label: 'Name contains', kind: 'text', value: a.name }]),
      async execute(a) {
        const page = decodePage('stripe_search_customers', a.cursor);
        // The name goes inside a quoted value of Stripe's query language: quotes and backslashes are escaped, so it
        // cannot add clauses of its own.
        const query = `name~"${a.name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
        const found = await api.call('search customers', (s) => s.customers.search({ query, limit: a.limit, page }));
        const next = found.has_more && found.next_page ? encodeCursor('stripe_search_customers', found.next_page) : null;
        const more = next ? '; more available: call again with cursor = next_cursor' : '';
        return {
          data: { data: found.data as unknown as Json[], has_more: found.has_more, next_cursor: next },
          text: `${found.data.length} customer${found.data.length === 1 ? '' : 's'} whose name contains "${a.name}"${more}`,
        };
      },
    }),
    defineTool({
      name: 'stripe_get_customer',
      title: 'Get a Stripe customer',
      description: 'Retrieve one customer by id (cus_...).',
      input: z.object({ customer: stripeId('cus', 'a customer') }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(`Read Stripe customer ${a.customer}`, [{ label: 'Customer', kind: 'account', value: a.customer }]),
      async execute(a) {
        const customer = await api.call(`retrieve customer ${a.customer}`, (s) => s.customers.retrieve(a.customer));
        const who = 'deleted' in customer && customer.deleted ? 'deleted customer' : `${customer.name ?? '(no name)'} <${customer.email ?? 'no email'}>`;
        return { data: json(customer), text: `${a.customer}: ${who}` };
      },
    }),
    defineTool({
      name: 'stripe_list_charges',
      title: 'List Stripe charges',
      description: 'List charges, newest first, optionally of one customer.',
      input: z.object({ customer: stripeId('cus', 'a customer').optional(), limit, cursor }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(a.customer ? `List Stripe charges of customer ${a.customer}` : 'List Stripe charges'),
      async execute(a) {
        const starting_after = decodeCursor('stripe_list_charges', a.cursor);
        const list = await api.call('list charges', (s) => s.charges.list({ customer: a.customer, limit: a.limit, starting_after }));
        return listResult('stripe_list_charges', 'charge', list);
      },
    }),
    defineTool({
      name: 'stripe_get_payment_intent',
      title: 'Get a Stripe payment intent',
      description: 'Retrieve one payment intent by id (pi_...).',
      input: z.object({ payment_intent: stripeId('pi', 'a payment intent') }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(`Read Stripe payment intent ${a.payment_intent}`),
      async execute(a) {
        const intent = await api.call(`retrieve payment intent ${a.payment_intent}`, (s) => s.paymentIntents.retrieve(a.payment_intent));
        return { data: json(intent), text: `${intent.id}: ${formatMoney(intent.amount, intent.currency)}, ${intent.status}` };
      },
    }),
    defineTool({
      name: 'stripe_list_subscriptions',
      title: 'List Stripe subscriptions',
      description: 'List subscriptions, newest first, optionally of one customer or with one status (default: all but canceled).',
      input: z.object({
        customer: stripeId('cus', 'a customer').optional(),
        status: z.enum(['active', 'past_due', 'unpaid', 'canceled', 'incomplete', 'incomplete_expired', 'trialing', 'paused', 'ended', 'all']).optional().describe('Only subscriptions in this status; "all" includes canceled ones'),
        limit,
        cursor,
      }),
      impact: 'read',
      consequence: 'reads',
      describe: (a) => reading(`List Stripe subscriptions${a.customer ? ` of customer ${a.customer}` : ''}${a.status ? ` with status ${a.status}` : ''}`),
      async execute(a) {
        const starting_after = decodeCursor('stripe_list_subscriptions', a.cursor);
        const list = await api.call('list subscriptions', (s) =>
          s.subscriptions.list({ customer: a.customer, status: a.status, limit: a.limit, starting_after }));
        return listResult('stripe_list_subscriptions', 'subscription', list);
      },
    }),
  ];
}
