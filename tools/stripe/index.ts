/**
 * The Stripe connector: six reads and five writes over the official `stripe` SDK. Every write carries
 * `Idempotency-Key` = the request's key, and every write is tagged with its request id so `reconcile` can look
 * it up after a crash instead of calling again. Errors never carry the secret key.
 *
 * @example
 * const sandbox = await startStripeSandbox();
 * const stripe = createStripeConnector({ baseUrl: sandbox.url, sandbox: true });
 */
import type { Connector } from '../spec.ts';
import { createStripeApi, type StripeConnectorOptions } from './client.ts';
import { updateCustomerEmailTool } from './customer-email.ts';
import { paymentLinkTool } from './payment-link.ts';
import { payoutTool } from './payout.ts';
import { readTools } from './reads.ts';
import { refundTool } from './refund.ts';
import { cancelSubscriptionTool } from './subscription.ts';

export type { StripeConnectorOptions } from './client.ts';
export { formatMoney, formatAmount, minorDigits } from './money.ts';

/** Build the connector; throws KernelError('config_error') for a missing or misplaced key or a bad baseUrl. */
export function createStripeConnector(options: StripeConnectorOptions): Connector {
  const api = createStripeApi(options);
  return {
    name: 'stripe',
    sandbox: options.sandbox,
    tools: [
      ...readTools(api),
      refundTool(api),
      payoutTool(api),
      paymentLinkTool(api),
      cancelSubscriptionTool(api),
      updateCustomerEmailTool(api),
    ],
  };
}
