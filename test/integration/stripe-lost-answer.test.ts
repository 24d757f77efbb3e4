import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { startStack, type Stack } from '../support/harness.ts';
import { startUpstreamTap, type UpstreamTap } from '../support/upstream-tap.ts';

/**
 * A Stripe write whose answer is lost (the connection drops after Stripe refunded, or Stripe answers 5xx) may have
 * happened: it must not end `failed`, since an agent told "failed" asks again and a new request carries a new
 * idempotency key, refunding twice. It ends `unknown`, and reconcile settles it: found by its request tag, or re-run
 * under the same Idempotency-Key (issue 10: a write in flight must not look like one that never happened).
 */

const CONFIG = `
policy:
  default: approve
  rules:
    - id: refunds
      tools: [stripe_create_refund]
      decision: allow
`;

let stack: Stack;
let sandbox: StripeSandbox;
let tap: UpstreamTap;
let agentId: string;
const isRefund = (r: { method: string; path: string }) => r.method === 'POST' && r.path.startsWith('/v1/refunds');

beforeAll(async () => {
  sandbox = await startStripeSandbox();
  tap = await startUpstreamTap(sandbox.url);
  stack = await startStack({ config: CONFIG, connectors: [createStripeConnector({ secretKey: 'sk_test_LostAnswer000000', baseUrl: tap.url, sandbox: true })] });
  ({ agentId } = await stack.addAgent('lost-agent', 'owner@example.com'));
});
afterAll(async () => {
  await stack?.close();
  await tap?.close();
  await sandbox?.close();
});

describe('a Stripe write whose answer is lost', () => {
  it.each(['after', 'before'] as const)('connection dropped %s Stripe acted: never failed, refunded once', async (phase) => {
    const before = tap.effects.filter(isRefund).length;
    const held = tap.holdNext(isRefund, phase);
    const submitted = stack.submit(agentId, 'stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: phase === 'after' ? 250 : 260 });
    (await held).drop();
    const view = await submitted;
    expect(view.state, JSON.stringify(view.error)).not.toBe('failed');
    await stack.services.kernel.recover();
    const final = await stack.awaitRequest(agentId, view.id, 10_000);
    expect(final.state, JSON.stringify(final.error)).toBe('succeeded');
    expect(final.result?.data).toMatchObject({ object: 'refund', amount: phase === 'after' ? 250 : 260 });
    expect(tap.effects.filter(isRefund).length - before).toBe(1);
  });

  it('Stripe answers 500 (it may or may not have acted): unknown, then settled once by reconcile, never failed', async () => {
    const before = tap.effects.filter(isRefund).length;
    const held = tap.holdNext(isRefund, 'before');
    const submitted = stack.submit(agentId, 'stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 270 });
    const write = await held;
    // The write waits at the tap, so the 500 goes to it, not to the look-ups before it.
    sandbox.failNext({ status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } });
    await write.release();
    const view = await submitted;
    expect(view.state, JSON.stringify(view.error)).not.toBe('failed');
    await stack.services.kernel.recover();
    const final = await stack.awaitRequest(agentId, view.id, 10_000);
    expect(final.state, JSON.stringify(final.error)).toBe('succeeded');
    expect(final.result?.data).toMatchObject({ object: 'refund', amount: 270 });
    expect(tap.effects.filter(isRefund).length - before).toBe(1);
  });
});
