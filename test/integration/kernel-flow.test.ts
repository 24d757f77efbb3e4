import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eq } from 'drizzle-orm';
import {
  KernelError,
  mintGrant,
  recordGrant,
  requestDigest,
  schema,
  type Json,
  type JsonObject,
  type RequestView,
} from '../../kernel/index.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { testIsolation } from '../support/isolation-mode.ts';

/** The kernel's request path end to end, through the router, on a real database (PGlite or PostgreSQL). */

const upstream = { balance: 1000, calls: [] as { tool: string; args: JsonObject; key: string }[] };

const demo: Connector = {
  name: 'demo',
  sandbox: true,
  tools: [
    defineTool({
      name: 'demo_read',
      title: 'Read',
      description: 'Reads the balance',
      input: z.object({}),
      impact: 'read',
      consequence: 'reads',
      describe: async () => ({ summary: 'Read the balance', consequence: 'reads', reversible: true, fields: [], pins: {} }),
      execute: async (_args, ctx) => {
        upstream.calls.push({ tool: 'demo_read', args: {}, key: ctx.idempotencyKey });
        return { data: { balance: upstream.balance }, text: `balance ${upstream.balance}` };
      },
    }),
    defineTool({
      name: 'demo_pay',
      title: 'Pay',
      description: 'Pays an amount',
      input: z.object({ amount: z.number().int().positive() }),
      impact: 'high',
      consequence: 'moves-money',
      describe: async (args) => ({
        summary: `Pay $${(args.amount / 100).toFixed(2)} USD`,
        consequence: 'moves-money',
        reversible: false,
        fields: [{ label: 'Amount', kind: 'money', value: args.amount, currency: 'USD' }],
        pins: { balance: upstream.balance },
      }),
      execute: async (args, ctx) => {
        upstream.calls.push({ tool: 'demo_pay', args, key: ctx.idempotencyKey });
        upstream.balance -= args.amount;
        return { data: { paid: args.amount }, text: `paid ${args.amount}` };
      },
    }),
    defineTool({
      name: 'demo_note',
      title: 'Note',
      description: 'Writes a note (expires fast in this policy)',
      input: z.object({ text: z.string() }),
      impact: 'write',
      consequence: 'writes',
      describe: async (args) => ({
        summary: 'Write a note',
        consequence: 'writes',
        reversible: true,
        fields: [],
        pins: {},
        agentText: [{ label: 'Note', text: args.text }],
      }),
      execute: async (args) => ({ data: { written: args.text }, text: 'written' }),
    }),
  ],
};

const CONFIG = `
roles:
  finance: [fin1@example.com, fin2@example.com]
policy:
  default: approve
  rules:
    - id: reads
      tools: [demo_read]
      decision: allow
    - id: too-big
      tools: [demo_pay]
      when: args.amount > 100000
      decision: deny
      reason: payments over $1,000 are never made by agents
    - id: pay-needs-two
      tools: [demo_pay]
      decision: approve
      approvers: { role: finance, count: 2 }
    - id: notes-expire
      tools: [demo_note]
      when: args.text == "expire"
      decision: approve
      expires: 1s
`;

let stack: Stack;
let agentId: string;
let owner: TestApprover;
let fin1: TestApprover;
let fin2: TestApprover;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [demo] });
  ({ agentId } = await stack.addAgent('flow-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
  fin1 = await stack.enrollApprover('fin1@example.com');
  fin2 = await stack.enrollApprover('fin2@example.com');
});
afterAll(async () => stack?.close());

const submit = (tool: string, args: JsonObject) => stack.submit(agentId, tool, args);
const awaitFinal = (requestId: string) => stack.awaitRequest(agentId, requestId);
const refused = async (promise: Promise<unknown>, code: string) => {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe(code);
  return error as KernelError;
};

describe('kernel request flow', () => {
  it.runIf(testIsolation() === 'process')('runs the executor in its own process, which journals the grant it acts on (COUNTERSIGN_TEST_ISOLATION=process)', async () => {
    expect(stack.executorPids).toHaveLength(1);
    expect(stack.executorPids[0]).not.toBe(process.pid);
    expect((await submit('demo_read', {})).state).toBe('succeeded');
    expect(readFileSync(join(stack.home, 'journal', 'demo.grants'), 'utf8')).toMatch(/^[\w-]+ \d+$/m);
  });

  it('executes an allowed request at once and returns the upstream result', async () => {
    const view = await submit('demo_read', {});
    expect(view.state).toBe('succeeded');
    expect(view.verdict.ruleId).toBe('reads');
    expect(view.result).toEqual({ data: { balance: upstream.balance }, text: `balance ${upstream.balance}` });
    expect(view.digest).toBe(requestDigest(view.body));
  });

  it('denies with the rule reason and never calls upstream', async () => {
    const before = upstream.calls.length;
    const view = await submit('demo_pay', { amount: 500000 });
    expect(view.state).toBe('denied');
    expect(view.verdict.reason).toContain('never made by agents');
    expect(upstream.calls.length).toBe(before);
  });

  it('refuses arguments that fail the schema, naming the field', async () => {
    const error = await refused(submit('demo_pay', { amount: 'lots' }), 'invalid_arguments');
    expect(error.message).toContain('args.amount');
  });

  it('needs two distinct approvers of the role; the same approver twice counts once', async () => {
    const view = await submit('demo_pay', { amount: 1200 });
    expect(view.state).toBe('pending');
    expect(view.approvalUrl).toBe(`${stack.url}/requests/${view.id}`);
    const once = await stack.decide(fin1, view.id, 'approve');
    expect(once.state).toBe('pending');
    await refused(stack.decide(fin1, view.id, 'approve'), 'evidence_refused');
    await refused(stack.decide(owner, view.id, 'approve'), 'not_an_approver');
    const twice = await stack.decide(fin2, view.id, 'approve');
    expect(twice.state).toBe('approved');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('succeeded');
    expect(final.approvals.map((a) => a.approverEmail).sort()).toEqual(['fin1@example.com', 'fin2@example.com']);
    expect(upstream.calls.at(-1)).toMatchObject({ tool: 'demo_pay', key: `countersign-${view.id}` });
  });

  it('lets one rejection win, with the reason returned', async () => {
    const view = await submit('demo_pay', { amount: 300 });
    await stack.decide(fin1, view.id, 'approve');
    const rejected = await stack.decide(fin2, view.id, 'reject', 'not this vendor');
    expect(rejected.state).toBe('rejected');
    expect(rejected.approvals.find((a) => a.decision === 'reject')?.reason).toBe('not this vendor');
  });

  it("defaults to the agent's owner, and the owner's passkey approval executes it", async () => {
    const view = await submit('demo_note', { text: 'hello' });
    expect(view.verdict).toMatchObject({ decision: 'approve', ruleId: null, approvers: { role: 'owner', count: 1 } });
    await refused(stack.decide(fin1, view.id, 'approve'), 'not_an_approver');
    await stack.decide(owner, view.id, 'approve');
    expect((await awaitFinal(view.id)).result?.data).toEqual({ written: 'hello' });
  });

  it('wakes a held call when its approval executes; only PostgreSQL, which replicas share, carries the wake-up', async () => {
    const notified: string[] = [];
    const unlisten = await stack.services.database.listen('countersign_wake', (ids) => notified.push(...ids.split(',')));
    try {
      const view = await submit('demo_note', { text: 'wake me' });
      const held = stack.awaitRequest(agentId, view.id, 20_000);
      await stack.decide(owner, view.id, 'approve');
      expect((await held).state).toBe('succeeded');
      await new Promise((r) => setTimeout(r, 200));
      // On embedded PGlite nobody else can listen: the kernel woke its own waiters, and sent nothing.
      if (stack.services.database.kind === 'postgres') expect(notified).toContain(view.id);
      else expect(notified).toEqual([]);
    } finally {
      await unlisten();
    }
  });

  it('expires a pending approval as a rejection', async () => {
    const view = await submit('demo_note', { text: 'expire' });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await awaitFinal(view.id)).state).toBe('expired');
    await refused(stack.decide(owner, view.id, 'approve'), 'not_pending');
  });

  it('cancels a pending request on the agent’s behalf', async () => {
    const view = await submit('demo_note', { text: 'cancel me' });
    const cancelled = await stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.cancel', requestId: view.id, agentId, reason: 'client cancelled' });
    expect(cancelled.state).toBe('cancelled');
  });
});

describe('agent authentication', () => {
  it('audits failed token checks as one counted entry, never the token', async () => {
    for (let i = 0; i < 3; i++) expect(await stack.port.send('kernel', { op: 'agent.authenticate', token: `cs_agent_wrong${i}` })).toBeNull();
    await new Promise((r) => setTimeout(r, 1300));
    await stack.services.audit.sync();
    const rows = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'auth.failed'));
    expect(rows.at(-1)?.data).toMatchObject({ count: 3 });
    expect(JSON.stringify(rows)).not.toContain('cs_agent_wrong');
  });

  it('resolves an OAuth subject to an active agent only', async () => {
    expect(await stack.port.send('kernel', { op: 'agent.resolve', name: 'flow-agent' })).toMatchObject({ agentId, owner: 'owner@example.com' });
    expect(await stack.port.send('kernel', { op: 'agent.resolve', name: 'nobody' })).toBeNull();
  });
});

describe('evidence binding', () => {
  it('refuses an assertion made for another request, another decision, without user verification, or replayed', async () => {
    const a = await submit('demo_note', { text: 'a' });
    const b = await submit('demo_note', { text: 'b' });
    const challengeA = await stack.port.send<JsonObject>('kernel', { op: 'approval.challenge', requestId: a.id, decision: 'approve', approverId: owner.id });
    const forA = owner.authenticator.assert({ challenge: challengeA.challenge as string, rpId: 'localhost' });
    const decideWith = (requestId: string, decision: 'approve' | 'reject', response: unknown) =>
      stack.port.send('kernel', { op: 'approval.decide', requestId, decision, reason: null, evidence: { kind: 'webauthn', response: response as JsonObject } });

    await refused(decideWith(b.id, 'approve', forA), 'evidence_refused');
    await refused(decideWith(a.id, 'reject', forA), 'evidence_refused');
    const noUv = owner.authenticator.assert({ challenge: challengeA.challenge as string, rpId: 'localhost' }, { userVerified: false });
    await refused(decideWith(a.id, 'approve', noUv), 'evidence_refused');

    // A fresh assertion works once; the same assertion replayed on a still-pending request is refused by the counter.
    const c = await submit('demo_pay', { amount: 100 });
    const challengeC = await stack.port.send<JsonObject>('kernel', { op: 'approval.challenge', requestId: c.id, decision: 'approve', approverId: fin1.id });
    const forC = fin1.authenticator.assert({ challenge: challengeC.challenge as string, rpId: 'localhost' });
    await decideWith(c.id, 'approve', forC);
    await refused(decideWith(c.id, 'approve', forC), 'evidence_refused');

    await stack.services.audit.sync();
    const audit = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'approval.refused'));
    expect(audit.length).toBeGreaterThanOrEqual(4);
  });

  it('never lets the gateway (an agent) decide: the capability is missing and the refusal is audited', async () => {
    const view = await submit('demo_note', { text: 'x' });
    const gateway = stack.services.router;
    const reply = await gateway.deliver('gateway', 'kernel', { op: 'approval.decide', requestId: view.id, decision: 'approve', reason: null, evidence: { kind: 'webauthn', response: {} } });
    expect(reply).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    await stack.services.audit.sync();
    const refusals = await stack.services.database.db.select().from(schema.auditEntries).where(eq(schema.auditEntries.kind, 'router.refused'));
    expect(refusals.some((r) => (r.data as JsonObject).op === 'approval.decide')).toBe(true);
  });
});

describe('execution guards', () => {
  it('refuses execution when the pinned upstream state drifted after approval, and leaves upstream untouched', async () => {
    const view = await submit('demo_pay', { amount: 50 });
    upstream.balance += 1; // someone else moved the balance: the approval was given against another state
    const calls = upstream.calls.length;
    await stack.decide(fin1, view.id, 'approve');
    await stack.decide(fin2, view.id, 'approve');
    const final = await awaitFinal(view.id);
    expect(final.state).toBe('failed');
    expect(final.error).toMatchObject({ code: 'pin_drift' });
    expect(final.error?.message).toMatch(/balance was -?\d+, now -?\d+/);
    expect(upstream.calls.length).toBe(calls);
  });

  it('refuses a grant used twice, a grant for another digest, and a body that does not match its digest', async () => {
    const done = await submit('demo_read', {});
    const { services } = stack;
    const [row] = await services.database.db.select().from(schema.grants).where(eq(schema.grants.requestId, done.id));
    expect(row.consumedAt).not.toBeNull();
    const send = (body: JsonObject, digest: string, grant: string) =>
      services.router.deliver('kernel', 'connector.demo', { op: 'execute', body, digest, grant, marker: 'm' });

    const unrecorded = await mintGrant(services.keys, { requestId: done.id, digest: done.digest, tool: 'demo_read' });
    // Signed by the kernel but never issued for an execution: the kernel refuses to consume it.
    expect(await send(done.body as unknown as JsonObject, done.digest, unrecorded.jwt)).toMatchObject({ ok: false, error: { code: 'grant_invalid' } });

    const reused = await mintGrant(services.keys, { requestId: done.id, digest: done.digest, tool: 'demo_read' });
    await recordGrant(services.database.db, { jti: reused.jti, requestId: done.id, digest: done.digest, expiresAt: reused.expiresAt });
    expect(await send(done.body as unknown as JsonObject, done.digest, reused.jwt)).toMatchObject({ ok: true });
    expect(await send(done.body as unknown as JsonObject, done.digest, reused.jwt)).toMatchObject({ ok: false, error: { code: 'grant_consumed' } });

    const tampered = { ...done.body, args: { sneaky: true } } as unknown as JsonObject;
    expect(await send(tampered, done.digest, reused.jwt)).toMatchObject({ ok: false, error: { code: 'digest_mismatch' } });

    const other = await mintGrant(services.keys, { requestId: done.id, digest: 'f'.repeat(64), tool: 'demo_read' });
    expect(await send(done.body as unknown as JsonObject, done.digest, other.jwt)).toMatchObject({ ok: false, error: { code: 'digest_mismatch' } });
  });

  it('leaves a request whose outcome nobody can tell unknown for its owner, who marks it done with a passkey', async () => {
    const view = await submit('demo_note', { text: 'crash' });
    await stack.decide(owner, view.id, 'approve');
    await awaitFinal(view.id);
    // A crash after the upstream call: the grant was used, the row says executing, no result, the lease lapsed.
    await stack.services.database.db.update(schema.requests).set({ state: 'executing', result: null, leaseUntil: new Date(0) }).where(eq(schema.requests.id, view.id));
    expect(await stack.services.kernel.recover()).toBeGreaterThanOrEqual(1);
    const unknown = await stack.awaitRequest(agentId, view.id, 0);
    expect(unknown).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
    expect(unknown.error?.message).toMatch(/^This may or may not have run/);
    // It is not run again by itself: a second recovery leaves it waiting.
    await stack.services.kernel.recover();
    expect((await stack.awaitRequest(agentId, view.id, 0)).state).toBe('unknown');
    expect((await stack.port.send<RequestView[] & Json>('kernel', { op: 'approval.inbox', approverId: owner.id })).map((r) => r.id)).toContain(view.id);
    await refused(stack.decide(fin1, view.id, 'mark_done'), 'not_an_approver');
    await refused(stack.decide(owner, view.id, 'approve'), 'not_pending');
    await stack.decide(owner, view.id, 'mark_done', 'I see the note upstream');
    const final = await awaitFinal(view.id);
    expect(final).toMatchObject({ state: 'succeeded', result: { data: { status: 'marked_done', by: 'owner@example.com' } } });
  });
});
