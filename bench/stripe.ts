import Stripe from 'stripe';
import { createStripeConnector } from '../tools/stripe/index.ts';
import { formatMoney } from '../tools/stripe/money.ts';
import { SEED, startStripeSandbox } from '../tools/stripe/sandbox/index.ts';
import type { BenchResult } from './types.ts';
import { paired } from './measure.ts';

/**
 * What the Stripe connector adds on top of the SDK, against the local sandbox (so network time is loopback only):
 * - describing a refund (one look-up, the charge with its customer expanded, then building the intent) against the
 *   bare SDK call that retrieves the same charge: what a legible intent costs beyond the round trip itself;
 * - formatting money from minor units against Intl.NumberFormat's own currency formatting of a float.
 */

export async function run(): Promise<BenchResult[]> {
  const sandbox = await startStripeSandbox();
  try {
    const key = 'sk_test_bench0000000001';
    const connector = createStripeConnector({ baseUrl: sandbox.url, sandbox: true, secretKey: key });
    const refund = connector.tools.find((t) => t.name === 'stripe_create_refund');
    if (!refund) throw new Error('stripe_create_refund missing');
    const sdk = new Stripe(key, { host: '127.0.0.1', port: new URL(sandbox.url).port, protocol: 'http', maxNetworkRetries: 0 });

    const [describeUs, retrieveUs] = await paired(500, () => refund.describe({ charge: SEED.janeCharge }), () => sdk.charges.retrieve(SEED.janeCharge), 200);
    const intl = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
    const [formatUs, intlUs] = await paired(20_000, () => formatMoney(123_456, 'usd'), () => intl.format(1234.56), 200);
    const [formatNs, intlNs] = [formatUs * 1000, intlUs * 1000];
    return [
      {
        name: 'stripe: describe refund (sandbox, p50)',
        value: describeUs,
        unit: 'µs',
        baseline: { name: 'bare SDK charges.retrieve (sandbox, p50)', value: retrieveUs, unit: 'µs' },
        target: 'under 1.5x the bare retrieve',
        goal: { max: 1.5 * retrieveUs },
      },
      {
        name: 'stripe: formatMoney from minor units (p50)',
        value: formatNs,
        unit: 'ns',
        baseline: { name: 'Intl.NumberFormat.format of a float (p50)', value: intlNs, unit: 'ns' },
      },
    ];
  } finally {
    await sandbox.close();
  }
}
