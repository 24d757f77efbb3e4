import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { and, eq } from 'drizzle-orm';
import { KernelError, readEntries, schema, verifyStored, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { connectClient } from '../support/mcp-client.ts';

/**
 * At most once and nothing lost, in one process against a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL):
 * leases renewed while an executor works, the stale owner's outcome refused as a conflict, decisions serialized per
 * request, revocation cancelling what has not started. Real crashes (SIGKILL of `countersign start`) are in
 * crash-matrix.test.ts; two server processes in replica-processes.test.ts.
 */

/** A write whose upstream call the test holds open, counting every effect. */
const effects: string[] = [];
let release: (() => void) | null = null;
let entered: (() => void) | null = null;
const slow = (name: string, rerunSafe?: string) =>
  defineTool({
    name, title: 'Slow write', description: 'A write the test holds open', input: z.object({ n: z.number() }), impact: 'write', consequence: 'writes',
    describe: async (args) => ({ summary: `Write ${args.n}`, consequence: 'writes', reversible: true, fields: [], pins: {} }),
    execute: async (_args, ctx) => {
      effects.push(ctx.requestId);
      entered?.();
      if (release === null) await new Promise<void>((resolve) => (release = resolve));
      return { data: { wrote: ctx.requestId }, text: 'written' };
    },
    reconcile: async (_args, ctx) => (effects.includes(ctx.requestId) && !held.has(ctx.requestId) ? { data: { wrote: ctx.requestId }, text: 'found' } : null),
    ...(rerunSafe ? { rerunSafe } : {}),
  });
const held = new Set<string>();
/** Like `slow`, but every call waits at its own gate, so two attempts of one request can be released in any order. */
const gates: (() => void)[] = [];
const gated = defineTool({
  ...slow('once_gated', 'the test upstream dedupes by key'),
  execute: async (_args, ctx) => {
    effects.push(ctx.requestId);
    await new Promise<void>((resolve) => gates.push(resolve));
    return { data: { wrote: ctx.requestId, attempt: gates.length }, text: 'written' };
  },
});
const connector: Connector = { name: 'once', sandbox: true, tools: [slow('once_write'), slow('once_pay', 'the test upstream dedupes by key'), gated] };

const CONFIG = `
leaseSeconds: 1
roles:
  finance: [fin1@example.com, fin2@example.com]
policy:
  default: approve
  rules:
    - id: quorum
      tools: [once_pay]
      when: args.n >= 1000
      decision: approve
      approvers: { role: finance, count: 2 }
    - id: either
      tools: [once_pay]
      when: args.n >= 100
      decision: approve
      approvers: { role: finance, count: 1 }
    - id: small
      tools: [once_pay]
      decision: allow
    - id: gated
      tools: [once_gated]
      decision: allow
    - id: quick-writes
      tools: [once_write]
      when: args.n < 3
      decision: allow
`;

let stack: Stack;
let agentId: string;
let owner: TestApprover;
let fin1: TestApprover;
let fin2: TestApprover;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  ({ agentId } = await stack.addAgent('once-agent', 'owner@example.com'));
  owner = await stack.enrollApprover('owner@example.com');
  fin1 = await stack.enrollApprover('fin1@example.com');
  fin2 = await stack.enrollApprover('fin2@example.com');
});
afterAll(async () => stack?.close());

const kinds = async (requestId: string) => {
  const found: string[] = [];
  await stack.services.audit.sync();
  for await (const entry of readEntries(stack.services.database.db, { requestId })) found.push(entry.kind);
  return found;
};
const count = (list: string[], kind: string) => list.filter((k) => k === kind).length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const settle = async (promise: Promise<unknown>) => promise.then(() => 'ok', (e: unknown) => (e instanceof KernelError ? e.code : String(e)));

describe('decisions serialize per request', () => {
  // 50 runs on PostgreSQL, where the two decisions really run on two connections at once; PGlite has one connection.
  const runs = process.env.TEST_DATABASE_URL ? 50 : 15;
  it(`releases a 2-of-2 request exactly once when both approvals arrive together, ${runs} times`, { timeout: 300_000 }, async () => {
    release = () => {};
    for (let run = 0; run < runs; run++) {
      const view = await stack.submit(agentId, 'once_pay', { n: 1000 + run });
      expect(view.state).toBe('pending');
      const outcomes = await Promise.all([settle(stack.decide(fin1, view.id, 'approve')), settle(stack.decide(fin2, view.id, 'approve'))]);
      expect(outcomes).toEqual(['ok', 'ok']);
      const final = await stack.awaitRequest(agentId, view.id, 10_000);
      expect(final.state).toBe('succeeded');
      expect(effects.filter((id) => id === view.id)).toHaveLength(1);
      const audit = await kinds(view.id);
      expect([count(audit, 'approval.decided'), count(audit, 'request.approved'), count(audit, 'execution.succeeded')]).toEqual([2, 1, 1]);
      // One grant per attempt. Usually one attempt; on a starved machine the 1 s lease can lapse before the executor
      // consumes the grant, and recovery then retires it and mints the next: still one effect, counted above.
      expect(count(audit, 'grant.minted')).toBeGreaterThanOrEqual(1);
      expect(count(audit, 'grant.minted')).toBe(count(audit, 'execution.started'));
    }
  });

  it('gives a rejection racing an approval one outcome, executed only if it is the approval', { timeout: 300_000 }, async () => {
    release = () => {};
    for (let run = 0; run < 20; run++) {
      const view = await stack.submit(agentId, 'once_pay', { n: 100 + run });
      const [a, r] = await Promise.all([settle(stack.decide(fin1, view.id, 'approve')), settle(stack.decide(fin2, view.id, 'reject', 'no'))]);
      const final = await stack.awaitRequest(agentId, view.id, 10_000);
      const audit = await kinds(view.id);
      // One of the two counted; the other was refused (and audited) because the request was no longer pending.
      expect([a, r].sort()).toEqual(['not_pending', 'ok']);
      expect(count(audit, 'approval.refused')).toBe(1);
      if (final.state === 'succeeded') {
        expect([a, count(audit, 'request.rejected'), effects.filter((id) => id === view.id).length]).toEqual(['ok', 0, 1]);
      } else {
        expect([final.state, r, count(audit, 'request.approved'), effects.includes(view.id)]).toEqual(['rejected', 'ok', 0, false]);
      }
    }
  });
});

describe('execution leases', () => {
  it('keeps a slow execution to its owner: recovery leaves a renewed lease alone, and it runs once', async () => {
    release = null;
    const started = new Promise<void>((resolve) => (entered = resolve));
    const submitted = stack.submit(agentId, 'once_pay', { n: 1 });
    await started;
    const [row] = await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.state, 'executing'));
    // Three lease lengths pass while upstream holds the call; recovery runs meanwhile (also by hand) and takes nothing.
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      await stack.services.kernel.recover();
    }
    expect((await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.id, row!.id)))[0]).toMatchObject({ state: 'executing', attempt: 1 });
    release!();
    expect((await submitted).state).toBe('succeeded');
    expect(effects.filter((id) => id === row!.id)).toHaveLength(1);
    expect(await kinds(row!.id)).not.toContain('execution.unknown');
  });

  it("refuses the outcome of an owner whose lease lapsed: audited as a conflict, never a second result", async () => {
    release = null;
    const started = new Promise<void>((resolve) => (entered = resolve));
    const submitted = stack.submit(agentId, 'once_write', { n: 2 }).catch((e: unknown) => e);
    await started;
    const [row] = await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.state, 'executing'));
    held.add(row!.id);
    // As if this owner stalled past its lease (a long pause, a lost database connection): another recovery takes over.
    await stack.services.database.db.update(schema.requests).set({ leaseOwner: 'replica-that-died', leaseUntil: new Date(0) }).where(eq(schema.requests.id, row!.id));
    await stack.services.kernel.recover();
    const unknown = await stack.awaitRequest(agentId, row!.id, 0);
    // The grant was used and once_write cannot be found upstream while held: nobody can tell, so a human will.
    expect(unknown).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
    release!();
    await submitted;
    await sleep(200);
    const after = await stack.awaitRequest(agentId, row!.id, 0);
    expect([after.state, after.result]).toEqual(['unknown', null]);
    const audit = await kinds(row!.id);
    expect(count(audit, 'execution.conflict')).toBe(1);
    expect(count(audit, 'execution.succeeded')).toBe(0);
    // The owner checks upstream and says it ran: that, and only that, is the result.
    await stack.decide(owner, row!.id, 'mark_done', 'the write is there');
    expect((await stack.awaitRequest(agentId, row!.id, 0)).state).toBe('succeeded');
    expect(effects.filter((id) => id === row!.id)).toHaveLength(1);
    await stack.services.audit.sync();
    expect((await verifyStored(stack.services.database.db, [stack.services.auditSigner.verifierKey])).ok).toBe(true);
  });

  it("refuses a stale attempt's outcome while a newer attempt of the same request runs", async () => {
    const until = async (ok: () => boolean) => { while (!ok()) await sleep(20); };
    const first = stack.submit(agentId, 'once_gated', { n: 1 }).catch((e: unknown) => e);
    await until(() => gates.length === 1);
    const [row] = await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.tool, 'once_gated'));
    held.add(row!.id);
    // Attempt 1 stalls past its lease; recovery proves a re-run harmless (rerunSafe) and starts attempt 2.
    await stack.services.database.db.update(schema.requests).set({ leaseOwner: 'stalled', leaseUntil: new Date(0) }).where(eq(schema.requests.id, row!.id));
    const recovered = stack.services.kernel.recover();
    await until(() => gates.length === 2);
    gates[0]!(); // the stale attempt answers first
    await first;
    const [during] = await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.id, row!.id));
    expect([during!.state, during!.attempt, during!.result]).toEqual(['executing', 2, null]);
    gates[1]!();
    await recovered;
    const final = await stack.awaitRequest(agentId, row!.id, 10_000);
    expect(final).toMatchObject({ state: 'succeeded', result: { data: { attempt: 2 } } });
    const audit = await kinds(row!.id);
    expect([count(audit, 'execution.conflict'), count(audit, 'execution.succeeded')]).toEqual([1, 1]);
  });

  it('runs again by itself only with proof: a claim whose grant was never used', async () => {
    release = () => {};
    const view = await stack.submit(agentId, 'once_write', { n: 3 });
    expect(view.state).toBe('pending');
    // As if the server died right after claiming the approved request, before the executor used the grant (the grant
    // is recorded first: the periodic recovery may run any moment after the row says executing).
    const { mintGrant, recordGrant } = await import('../../kernel/index.ts');
    const grant = await mintGrant(stack.services.keys, { requestId: view.id, digest: view.digest, tool: 'once_write' });
    await recordGrant(stack.services.database.db, { jti: grant.jti, requestId: view.id, digest: view.digest, expiresAt: grant.expiresAt });
    await stack.services.database.db.update(schema.requests).set({ state: 'executing', attempt: 1, leaseOwner: 'gone', leaseUntil: new Date(0) }).where(eq(schema.requests.id, view.id));
    await stack.services.kernel.recover();
    const final = await stack.awaitRequest(agentId, view.id, 10_000);
    expect(final.state).toBe('succeeded');
    expect(effects.filter((id) => id === view.id)).toHaveLength(1);
    const reconciled = [];
    await stack.services.audit.sync();
    for await (const entry of readEntries(stack.services.database.db, { requestId: view.id })) if (entry.kind === 'execution.reconciled') reconciled.push(entry.data);
    expect(reconciled).toEqual([{ answer: 'not_happened', proof: 'no grant for it was ever used, and the unused ones are void' }]);
    // The voided grant can never be used now, by a zombie executor or anyone.
    const [voided] = await stack.services.database.db.select().from(schema.grants).where(eq(schema.grants.jti, grant.jti));
    expect(voided?.consumedAt).toBeNull();
    expect(voided?.expiresAt.getTime()).toBe(0);
  });

  it('Run again, signed by the owner, runs an unknown request once more', async () => {
    release = () => {};
    const view = await stack.submit(agentId, 'once_write', { n: 4 });
    await stack.decide(owner, view.id, 'approve');
    await stack.awaitRequest(agentId, view.id, 10_000);
    held.add(view.id);
    await stack.services.database.db.update(schema.requests).set({ state: 'executing', result: null, leaseUntil: new Date(0) }).where(eq(schema.requests.id, view.id));
    await stack.services.kernel.recover();
    expect((await stack.awaitRequest(agentId, view.id, 0)).state).toBe('unknown');
    await stack.decide(owner, view.id, 'run_again', 'not there upstream');
    expect((await stack.awaitRequest(agentId, view.id, 10_000)).state).toBe('succeeded');
    expect(effects.filter((id) => id === view.id)).toHaveLength(2);
    const audit = await kinds(view.id);
    expect(audit.filter((k) => k === 'execution.resolved' || k === 'grant.minted')).toEqual(['grant.minted', 'execution.resolved', 'grant.minted']);
  });
});

describe('revocation', () => {
  it("cancels the agent's pending requests, ends its held call with the reason, and refuses later approvals", async () => {
    const { agentId: doomed } = await stack.addAgent('doomed-agent', 'owner@example.com');
    const view = await stack.submit(doomed, 'once_write', { n: 5 });
    const heldCall = stack.awaitRequest(doomed, view.id, 20_000);
    await stack.port.send('kernel', { op: 'agent.revoke', name: 'doomed-agent' });
    const ended: RequestView = await heldCall;
    expect(ended).toMatchObject({ state: 'cancelled', error: { code: 'agent_revoked' } });
    expect(ended.error?.message).toContain('was revoked');
    const error = await stack.decide(owner, view.id, 'approve').catch((e: unknown) => e);
    expect((error as KernelError).code).toBe('not_pending');
    expect(effects).not.toContain(view.id);
    expect(await kinds(view.id)).toContain('request.cancelled');
    const refused = await stack.submit(doomed, 'once_write', { n: 6 }).catch((e: unknown) => e);
    expect((refused as KernelError).code).toBe('unknown_agent');
  });

  it('ends an MCP call held for approval when its agent is revoked: an error result that says so, nothing run', async () => {
    const { token, agentId: doomed } = await stack.addAgent('held-agent', 'owner@example.com');
    const client = await connectClient(stack.url, token);
    const held = client.callTool({ name: 'once_write', arguments: { n: 7 } }, undefined, { timeout: 60_000 });
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++, await sleep(25)) {
      [{ id } = { id: undefined }] = await stack.services.database.db.select({ id: schema.requests.id }).from(schema.requests).where(and(eq(schema.requests.agentId, doomed), eq(schema.requests.state, 'pending')));
    }
    expect(id).toBeDefined();
    await stack.port.send('kernel', { op: 'agent.revoke', name: 'held-agent' });
    const result = await held;
    await client.close().catch(() => {});
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'cancelled' });
    expect(JSON.stringify(result.content)).toContain('agent held-agent was revoked, so this request was cancelled and not executed');
    expect(effects).not.toContain(id);
  });
});

export type { JsonObject };
