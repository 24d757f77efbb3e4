/**
 * The sandbox's endpoints: exactly the ones the Stripe connector uses, with Stripe's parameters, checks and errors.
 */
import type { JsonObject } from '../../../kernel/index.ts';
import { SandboxApiError, invalid, noSuch } from './errors.ts';
import type { FormObject } from './form.ts';
import { expand, integer, metadata, page, text } from './lists.ts';
import type { Collection, SandboxState } from './state.ts';

export interface SandboxRequest {
  method: string;
  path: string;
  query: FormObject;
  body: FormObject;
}

type Handler = (state: SandboxState, req: SandboxRequest, id: string) => JsonObject;

const KINDS: Record<Collection, string> = {
  customers: 'customer', charges: 'charge', payment_intents: 'payment_intent', products: 'product', prices: 'price',
  subscriptions: 'subscription', refunds: 'refund', payouts: 'payout', payment_links: 'payment link',
};

const REFUND_REASONS = ['duplicate', 'fraudulent', 'requested_by_customer'];

/** Dispatch one request; unknown routes answer 404 as Stripe does for an unrecognized URL. */
export function route(state: SandboxState, req: SandboxRequest): JsonObject {
  if (req.path === '/v1/customers/search' && req.method === 'GET') return searchCustomers(state, req);
  const match = /^\/v1\/([a-z_]+)(?:\/([A-Za-z0-9_]+))?$/.exec(req.path);
  const handler = match && ROUTES[`${req.method} ${match[1]}${match[2] === undefined ? '' : '/:id'}`];
  if (!match || !handler) {
    throw new SandboxApiError(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${req.path}).`);
  }
  return handler(state, req, match[2] ?? '');
}

function retrieve(collection: Collection): Handler {
  return (state, req, id) => {
    const found = state.get(collection, id);
    if (found === undefined) throw noSuch(KINDS[collection], id);
    return expand(state, structuredClone(found), req.query);
  };
}

function listOf(collection: Collection, filter: (item: JsonObject, query: FormObject) => boolean = () => true): Handler {
  return (state, req) => {
    const items = state.list(collection).filter((item) => filter(item, req.query)).map((item) => structuredClone(item));
    return expand(state, page(items, req.query, `/v1/${collection}`, KINDS[collection]), req.query);
  };
}

const matches = (field: string) => (item: JsonObject, query: FormObject) =>
  query[field] === undefined || item[field] === query[field];

const ROUTES: Record<string, Handler> = {
  'GET balance': (state) => ({
    object: 'balance',
    livemode: false,
    available: [...state.balance].map(([currency, b]) => ({ amount: b.available, currency, source_types: { card: b.available } })),
    pending: [...state.balance].map(([currency, b]) => ({ amount: b.pending, currency, source_types: { card: b.pending } })),
  }),
  'GET customers': listOf('customers', (item, query) => matches('email')(item, query) && item.deleted !== true),
  'GET customers/:id': retrieve('customers'),
  'POST customers/:id': (state, req, id) => {
    const customer = state.get('customers', id);
    if (customer === undefined) throw noSuch('customer', id);
    const email = text(req.body, 'email', false);
    if (email !== undefined) {
      if (email !== '' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw invalid(`Invalid email address: ${email}`, 'email', 'email_invalid');
      customer.email = email === '' ? null : email;
    }
    const name = text(req.body, 'name', false);
    if (name !== undefined) customer.name = name;
    if (req.body.metadata !== undefined) customer.metadata = { ...(customer.metadata as JsonObject), ...metadata(req.body) };
    return structuredClone(customer);
  },
  'GET charges': listOf('charges', matches('customer')),
  'GET charges/:id': retrieve('charges'),
  'GET payment_intents/:id': retrieve('payment_intents'),
  'GET prices/:id': retrieve('prices'),
  'GET products/:id': retrieve('products'),
  'GET subscriptions': listOf('subscriptions', (item, query) => {
    const status = query.status ?? 'active_or_open';
    const statusOk = status === 'all' || (status === 'active_or_open' ? item.status !== 'canceled' : item.status === status);
    return statusOk && matches('customer')(item, query);
  }),
  'GET subscriptions/:id': retrieve('subscriptions'),
  'DELETE subscriptions/:id': (state, _req, id) => {
    const subscription = state.get('subscriptions', id);
    if (subscription === undefined) throw noSuch('subscription', id);
    if (subscription.status === 'canceled') {
      throw invalid(`The subscription ${id} has already been canceled.`, undefined, 'resource_already_canceled');
    }
    subscription.status = 'canceled';
    subscription.canceled_at = state.now();
    subscription.ended_at = state.now();
    return structuredClone(subscription);
  },
  'GET refunds': listOf('refunds', matches('charge')),
  'POST refunds': (state, req) => createRefund(state, req.body),
  'GET payouts': listOf('payouts'),
  'POST payouts': (state, req) => {
    const amount = integer(req.body.amount, 'amount');
    const currency = text(req.body, 'currency', true).toLowerCase();
    if (amount < 1) throw invalid('Amount must be at least 1.', 'amount', 'amount_too_small');
    state.debit(currency, amount);
    return state.put('payouts', {
      id: state.newId('po'), object: 'payout', amount, currency, status: 'pending', method: 'standard', type: 'bank_account',
      destination: 'ba_SbxDefaultBank001', arrival_date: state.now() + 2 * 86_400, description: text(req.body, 'description', false) ?? null,
      metadata: metadata(req.body), created: state.now(), livemode: false,
    });
  },
  'GET payment_links': listOf('payment_links'),
  'POST payment_links': (state, req) => {
    const items = req.body.line_items;
    if (!Array.isArray(items) || items.length === 0) throw invalid('Missing required param: line_items.', 'line_items', 'parameter_missing');
    const lineItems = items.map((item, i) => {
      if (typeof item !== 'object' || Array.isArray(item)) throw invalid(`Invalid object: line_items[${i}].`, `line_items[${i}]`);
      const price = text(item, 'price', true);
      if (state.get('prices', price) === undefined) {
        throw invalid(`No such price: '${price}'`, `line_items[${i}][price]`, 'resource_missing');
      }
      return { price, quantity: integer(item.quantity, `line_items[${i}][quantity]`) };
    });
    const id = state.newId('plink');
    return state.put('payment_links', {
      id, object: 'payment_link', active: true, url: `https://buy.stripe.com/test_${id.slice(6)}`, metadata: metadata(req.body),
      line_items_preview: lineItems, created: state.now(), livemode: false,
    });
  },
};

function createRefund(state: SandboxState, body: FormObject): JsonObject {
  const chargeId = text(body, 'charge', false);
  const intentId = text(body, 'payment_intent', false);
  if ((chargeId === undefined) === (intentId === undefined)) {
    throw invalid('You must pass exactly one of charge or payment_intent.', chargeId === undefined ? 'charge' : 'payment_intent');
  }
  let charge: JsonObject | undefined;
  if (intentId !== undefined) {
    const intent = state.get('payment_intents', intentId);
    if (intent === undefined) throw invalid(`No such payment_intent: '${intentId}'`, 'payment_intent', 'resource_missing');
    charge = state.get('charges', String(intent.latest_charge));
  } else {
    charge = state.get('charges', chargeId as string);
    if (charge === undefined) throw invalid(`No such charge: '${chargeId}'`, 'charge', 'resource_missing');
  }
  if (charge === undefined || charge.status !== 'succeeded') {
    throw invalid('This charge cannot be refunded because it did not succeed.', 'charge', 'charge_not_refundable');
  }
  const remaining = Number(charge.amount) - Number(charge.amount_refunded);
  if (remaining === 0) {
    throw invalid(`Charge ${String(charge.id)} has already been refunded.`, 'charge', 'charge_already_refunded');
  }
  const amount = body.amount === undefined ? remaining : integer(body.amount, 'amount');
  if (amount < 1 || amount > remaining) {
    throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, 'amount', 'amount_too_large');
  }
  const reason = text(body, 'reason', false);
  if (reason !== undefined && !REFUND_REASONS.includes(reason)) {
    throw invalid(`Invalid reason: must be one of ${REFUND_REASONS.join(', ')}`, 'reason');
  }
  charge.amount_refunded = Number(charge.amount_refunded) + amount;
  charge.refunded = charge.amount_refunded === charge.amount;
  const balance = state.balance.get(String(charge.currency));
  if (balance !== undefined) balance.available -= amount;
  return state.put('refunds', {
    id: state.newId('re'), object: 'refund', amount, charge: charge.id, payment_intent: charge.payment_intent,
    currency: charge.currency, status: 'succeeded', reason: reason ?? null, metadata: metadata(body), created: state.now(),
  });
}

/**
 * `GET /v1/customers/search`: Stripe's search query language for the fields this sandbox keeps (`name`, `email`):
 * `field:"exact"` and `field~"substring"` (at least 3 characters, case-insensitive), joined by AND or by OR (not
 * both), `\"` inside a value. Answered as `{object: 'search_result', data, has_more, next_page, url}`; `page` is the
 * `next_page` token of the previous answer.
 */
function searchCustomers(state: SandboxState, req: SandboxRequest): JsonObject {
  const query = text(req.query, 'query', true);
  const clauses: ((c: JsonObject) => boolean)[] = [];
  const joins = new Set<string>();
  const clause = /^\s*(name|email)\s*([:~])\s*"((?:[^"\\]|\\.)*)"\s*(?:(AND|OR)\b|$)/i;
  let rest = query;
  while (rest.trim() !== '') {
    const found = clause.exec(rest);
    if (!found) {
      throw invalid(`We were unable to parse your search query. Try using the format \`metadata["key"]:"value"\` to query for metadata or \`key:"value"\` to query for other fields: ${query}`, 'query');
    }
    const [whole, field, op, raw, join] = found as unknown as [string, string, string, string, string | undefined];
    const value = raw.replace(/\\(.)/g, '$1');
    if (op === '~' && value.length < 3) throw invalid(`Substring search on ${field} needs at least 3 characters: ${query}`, 'query');
    const key = field.toLowerCase();
    clauses.push(op === '~'
      ? (c) => typeof c[key] === 'string' && (c[key] as string).toLowerCase().includes(value.toLowerCase())
      : (c) => c[key] === value);
    if (join) joins.add(join.toUpperCase());
    rest = rest.slice(whole.length);
    if (join && rest.trim() === '') throw invalid(`Your search query ends with ${join}: ${query}`, 'query');
  }
  if (joins.size > 1) throw invalid(`Search queries cannot mix AND and OR: ${query}`, 'query');
  const any = joins.has('OR');
  const hits = state.list('customers')
    .filter((c) => c.deleted !== true && (any ? clauses.some((f) => f(c)) : clauses.every((f) => f(c))))
    .map((c) => structuredClone(c));
  const limit = req.query.limit === undefined ? 10 : integer(req.query.limit, 'limit');
  if (limit < 1 || limit > 100) throw invalid('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
  const token = req.query.page;
  let start = 0;
  if (token !== undefined) {
    const offset = typeof token === 'string' && /^page_(\d{1,6})$/.exec(token);
    if (!offset) throw invalid(`Invalid page: ${JSON.stringify(token)}; pass the next_page of a previous search.`, 'page');
    start = Number(offset[1]);
  }
  const data = hits.slice(start, start + limit);
  const more = start + limit < hits.length;
  return { object: 'search_result', data, has_more: more, next_page: more ? `page_${start + limit}` : null, url: '/v1/customers/search' };
}
