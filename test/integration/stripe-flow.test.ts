import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { readEntries, schema, verifyStored, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { createStripeConnector } from '../../tools/stripe/index.ts';
import { startStripeSandbox, SEED, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';

/**
 * Stripe behind the real kernel with the default policy a newcomer gets: small refunds within a daily budget run at
 * once, larger ones wait for finance; a crash around the upstream call never refunds twice; the key never leaks.
 */

const SECRET = 'sk_test_FlowSuiteSecret0000000000000000';
let stack: Stack;
let sandbox: StripeSandbox;
let agentId: string;
let finance: TestApprover;

beforeAll(async () => {
  sandbox = await startStripeSandbox();
  const stripe = createStripeConnector({ secretKey: SECRET, baseUrl: sandbox.url, sandbox: true });
  stack = await startStack({ config: EXAMPLE_CONFIG, connectors: [stripe] });
  ({ agentId } = await stack.addAgent('pay-agent', 'owner@example.com'));
  // The example config's roles start empty: the operator grants them (approver grant), as the README says.
  finance = await stack.enrollApprover('ana@example.com', ['finance']);
});
afterAll(async () => {
  await stack?.close();
  await sandbox?.close();
});

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);
const awaitFinal = (requestId: string) => stack.awaitRequest(agentId, requestId);
const refundPosts = () => sandbox.received.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/refunds'));
const refundsFor = (charge: string) => sandbox.state.list('refunds').filter((r) => r.charge === charge);

describe('Stripe through the kernel with the default policy', () => {
  it('runs a $30 refund at once within the daily budget, with an idempotency key from the request id', async () => {
    const view = await submit('stripe_create_refund', { charge: SEED.janeCharge, amount: 3000 });
    expect(view.state).toBe('succeeded');
    expect(view.verdict.ruleId).toBe('small-refunds');
    expect(refundPosts().at(-1)?.idempotencyKey).toBe(`countersign-${view.id}`);
  });

  it('sends a refund over $50 to a finance approver, then executes it once', async () => {
    const view = await submit('stripe_create_refund', { charge: SEED.janeCharge, amount: 6000 });
    expect(view.state).toBe('pending');
    expect(view.verdict).toMatchObject({ ruleId: 'refunds-and-payouts', approvers: { role: 'finance', count: 1 } });
    expect(view.intent.summary).toBe(`Refund $60.00 USD to customer ${SEED.jane} on charge ${SEED.janeCharge} (of $120.00, $30.00 already refunded)`);
    await stack.decide(finance, view.id, 'approve');
    expect((await awaitFinal(view.id)).state).toBe('succeeded');
    expect(refundsFor(SEED.janeCharge)).toHaveLength(2);
  });

  it('after a crash between the upstream call and recording its result, recovery records it and refunds nothing more', async () => {
    const view = await submit('stripe_create_refund', { charge: SEED.janeCharge, amount: 1000 });
    expect(view.state).toBe('succeeded');
    const before = refundsFor(SEED.janeCharge).length;
    // The process died after Stripe answered but before the result was stored; its lease has lapsed.
    await stack.services.database.db.update(schema.requests).set({ state: 'executing', result: null, leaseUntil: new Date(0) }).where(eq(schema.requests.id, view.id));
    await stack.services.kernel.recover();
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('succeeded');
    expect(final.result?.data).toMatchObject({ amount: 1000 });
    expect(refundsFor(SEED.janeCharge)).toHaveLength(before);
    // Every recovery transition is in the audit chain, in order, and the chain still verifies.
    const kinds: string[] = [];
    await stack.services.audit.sync();
    for await (const entry of readEntries(stack.services.database.db, { requestId: view.id })) kinds.push(entry.kind);
    expect(kinds.slice(-3)).toEqual(['execution.unknown', 'execution.reconciled', 'execution.succeeded']);
    expect((await verifyStored(stack.services.database.db, [stack.services.auditSigner.verifierKey])).ok).toBe(true);
  });

  it('leaves the secret key out of every result, error and audit entry', async () => {
    await submit('stripe_get_balance', {});
    await submit('stripe_create_refund', { charge: SEED.janeCharge, amount: 999_999 }).catch(() => null);
    await stack.services.audit.sync();
    const entries = await stack.services.database.db.select().from(schema.auditEntries);
    const requests = await stack.services.database.db.select().from(schema.requests);
    const everything = JSON.stringify([entries, requests, sandbox.received]);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('FlowSuiteSecret');
  });
});
