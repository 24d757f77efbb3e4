import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { KernelError, type Json, type JsonObject, type Port, type RequestView } from '../../kernel/index.ts';
import type { ChainStatus, People, RequestFilter, RequestPage, RequestRow, Stats, Timeline } from '../../gateway/audit-reader/index.ts';
import { createTestConnector } from '../support/test-connector.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';

/** The read-only audit service over a real stack's database (PGlite, or PostgreSQL with TEST_DATABASE_URL). */

const CONFIG = `
policy:
  default: approve
  rules:
    - id: reads-ok
      tools: [test_read_note]
      decision: allow
    - id: no-wipes
      tools: [test_delete_all]
      decision: deny
      reason: agents never wipe notes
    - id: writes-need-owner
      tools: [test_write_note]
      decision: approve
`;

let stack: Stack;
let reader: Port;
let owner: TestApprover;
const ids: Record<string, string[]> = { read: [], deny: [], approved: [], rejected: [] };

const audit = <T>(body: JsonObject) => reader.send('audit', { op: body.op as string, ...body }) as unknown as Promise<T>;
const list = (filter: RequestFilter = {}, after: string | null = null, limit = 50) =>
  audit<RequestPage>({ op: 'audit.requests', filter: filter as JsonObject, after, limit });
const refused = async (promise: Promise<unknown>, code: string) => {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(KernelError);
  expect((error as KernelError).code).toBe(code);
  return (error as KernelError).message;
};

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()] });
  reader = stack.services.router.register('test.audit-reader', async () => null, ['audit:*']);
  owner = await stack.enrollApprover('owner@example.com');
  const reads = await stack.addAgent('reader-bot', 'owner@example.com');
  const writes = await stack.addAgent('writer-bot', 'owner@example.com');
  const submit = (agentId: string, tool: string, args: JsonObject) =>
    stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool, args });
  for (const key of ['welcome', 'alpha', 'beta']) ids.read!.push((await submit(reads.agentId, 'test_read_note', { key })).id);
  for (let i = 0; i < 2; i++) ids.deny!.push((await submit(writes.agentId, 'test_delete_all', { confirm: 'yes' })).id);
  for (const key of ['memo-1', 'memo-2', 'memo-3']) {
    const pending = await submit(writes.agentId, 'test_write_note', { key, text: `text of ${key}` });
    const decision = key === 'memo-3' ? 'reject' : 'approve';
    await stack.decide(owner, pending.id, decision, decision === 'reject' ? 'not today' : undefined);
    ids[decision === 'reject' ? 'rejected' : 'approved']!.push(pending.id);
  }
  // Executions finish in the background and the sequencer integrates within a second: wait for both.
  for (const id of ids.approved!) await stack.awaitRequest(writes.agentId, id);
  await stack.services.audit.sync();
});
afterAll(async () => stack?.close());

describe('audit.requests', () => {
  it('lists every request newest first with agent, tool, summary, decision and state', async () => {
    const page = await list();
    expect(page.rows).toHaveLength(8);
    expect(page.next).toBeNull();
    const times = page.rows.map((r) => r.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
    const write = page.rows.find((r) => r.id === ids.approved![0])!;
    expect(write).toMatchObject({ agentName: 'writer-bot', tool: 'test_write_note', decision: 'approve', ruleId: 'writes-need-owner', state: 'succeeded' });
    expect(write.summary).toContain('memo-1');
  });

  it('filters by agent, tool, decision, state, free text and time, combined with AND', async () => {
    const idsOf = (page: RequestPage) => page.rows.map((r: RequestRow) => r.id).sort();
    expect(idsOf(await list({ agent: 'reader-bot' }))).toEqual([...ids.read!].sort());
    expect(idsOf(await list({ tool: 'test_delete_all' }))).toEqual([...ids.deny!].sort());
    expect(idsOf(await list({ decision: 'deny' }))).toEqual([...ids.deny!].sort());
    expect(idsOf(await list({ state: 'rejected' }))).toEqual(ids.rejected);
    expect(idsOf(await list({ q: 'MEMO-2' }))).toEqual([ids.approved![1]]);
    expect(idsOf(await list({ q: ids.deny![0] }))).toEqual([ids.deny![0]]);
    // A percent sign is text, not a wildcard.
    expect((await list({ q: '%' })).rows).toHaveLength(0);
    expect(idsOf(await list({ agent: 'writer-bot', decision: 'approve', state: 'succeeded' }))).toEqual([...ids.approved!].sort());
    const all = (await list()).rows;
    const middle = all[3]!.createdAt;
    const newer = await list({ from: middle });
    expect(newer.rows.every((r) => r.createdAt >= middle)).toBe(true);
    const older = await list({ to: middle });
    expect(older.rows.every((r) => r.createdAt < middle)).toBe(true);
    expect(newer.rows.length + older.rows.length).toBe(8);
  });

  it('pages with an opaque cursor: no row twice, none skipped, stable while new requests arrive', async () => {
    const whole = (await list()).rows.map((r) => r.id);
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: RequestPage = await list({}, after, 3);
      seen.push(...page.rows.map((r) => r.id));
      after = page.next;
      if (pages++ === 0) {
        // A request arriving after the first page is newer than every cursor: it never shifts the later pages.
        const agent = await stack.addAgent('late-bot', 'owner@example.com');
        await stack.port.send('kernel', { op: 'request.submit', agentId: agent.agentId, tool: 'test_read_note', args: { key: 'late' } });
      }
    } while (after);
    expect(seen).toEqual(whole);
    expect(pages).toBe(3);
    expect((await list()).rows).toHaveLength(9);
  });

  it('refuses bad filters and foreign cursors with a message that says what to do', async () => {
    expect(await refused(list({ decision: 'maybe' as never }), 'bad_request')).toMatch(/decision/);
    expect(await refused(list({ from: 'yesterday' }), 'bad_request')).toMatch(/ISO 8601/);
    expect(await refused(list({}, 'not-a-cursor'), 'bad_request')).toMatch(/first page/);
    expect(await refused(reader.send('audit', { op: 'audit.requests', limit: 100000 }), 'bad_request')).toMatch(/limit/);
    expect(await refused(reader.send('audit', { op: 'audit.drop' }), 'bad_request')).toMatch(/audit.requests/);
  });
});

describe('audit.timeline', () => {
  it('shows an approved request from receipt to result in seq order, with the decision and its passkey', async () => {
    const t = await audit<Timeline>({ op: 'audit.timeline', requestId: ids.approved![0]! });
    expect(t.request.agentName).toBe('writer-bot');
    expect(t.entries.map((e) => e.kind)).toEqual([
      'request.received',
      'policy.decided',
      'approval.decided',
      'request.approved',
      'grant.minted',
      'execution.started',
      'execution.succeeded',
    ]);
    const seqs = t.entries.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect((t.entries[0]!.data as JsonObject).digest).toBe(t.request.digest);
    expect(t.entries.every((e) => /^[0-9a-f]{64}$/.test(e.hash))).toBe(true);
    expect(t.decisions).toEqual([
      expect.objectContaining({ approverEmail: 'owner@example.com', decision: 'approve', evidenceKind: 'webauthn', keyName: 'soft authenticator' }),
    ]);
  });

  it('keeps a rejection reason and names an unknown request', async () => {
    const t = await audit<Timeline>({ op: 'audit.timeline', requestId: ids.rejected![0]! });
    expect(t.decisions[0]).toMatchObject({ decision: 'reject', reason: 'not today' });
    expect(t.entries.map((e) => e.kind)).toContain('request.rejected');
    expect(await refused(audit({ op: 'audit.timeline', requestId: 'req_nope' }), 'unknown_request')).toMatch(/req_nope/);
  });
});

describe('audit.stats and audit.people', () => {
  it('counts requests per hour by decision, time to approval, and the busiest tools and agents', async () => {
    const now = Date.now();
    const s = await audit<Stats>({ op: 'audit.stats', from: new Date(now - 3_600_000).toISOString(), to: new Date(now + 60_000).toISOString() });
    const sum = (key: 'allow' | 'deny' | 'approve') => s.perHour.reduce((n, h) => n + h[key], 0);
    expect([sum('allow'), sum('deny'), sum('approve')]).toEqual([4, 2, 3]);
    expect(s.timeToApproval.reduce((n, b) => n + b.count, 0)).toBe(3);
    expect(s.timeToApproval[0]).toMatchObject({ label: '< 10 s', count: 3 });
    expect(s.topTools[0]).toEqual({ name: 'test_read_note', count: 4 });
    expect(s.topAgents.map((a) => a.name)).toEqual(['writer-bot', 'reader-bot', 'late-bot']);
    expect(await refused(audit({ op: 'audit.stats', from: 'x', to: 'y' }), 'bad_request')).toMatch(/ISO 8601/);
  });

  it('lists agents with last activity and approvers with their passkeys', async () => {
    const p = await audit<People>({ op: 'audit.people' });
    const writer = p.agents.find((a) => a.name === 'writer-bot')!;
    expect(writer.lastRequestAt).not.toBeNull();
    expect(writer.revokedAt).toBeNull();
    const approver = p.approvers.find((a) => a.email === 'owner@example.com')!;
    expect(approver.lastDecisionAt).not.toBeNull();
    expect(approver.passkeys).toEqual([expect.objectContaining({ name: 'soft authenticator', removedAt: null })]);
  });
});

describe('audit.status', () => {
  const keys = () => [stack.services.auditSigner.verifierKey];
  it('re-builds the tree up to the latest signed checkpoint, then continues with only the new entries', async () => {
    const checkpoint = (await stack.services.audit.sync())!;
    const status = await audit<ChainStatus>({ op: 'audit.status', fresh: true });
    expect(status).toMatchObject({ ok: true, verifiedUpTo: checkpoint.size, treeSize: checkpoint.size, firstBad: null, mode: 'full', sequencer: { queued: 0 } });
    expect(status.checkpoint).toEqual({ size: checkpoint.size, at: checkpoint.at });
    await stack.services.audit.append([{ kind: 'test.note', actor: 'kernel', data: { n: 1 } }]);
    await stack.services.audit.sync();
    // The cached verdict is served for a few seconds; the reader's watch is exercised directly below.
    const { createChainWatch } = await import('../../gateway/audit-reader/index.ts');
    const watch = createChainWatch(stack.services.database.db, { verifierKeys: keys(), ttlMs: 0 });
    expect(await watch.status()).toMatchObject({ ok: true, mode: 'full', verifiedUpTo: checkpoint.size + 1 });
    await stack.services.audit.append([{ kind: 'test.note', actor: 'kernel', data: { n: 2 } }]);
    await stack.services.audit.sync();
    expect(await watch.status()).toMatchObject({ ok: true, mode: 'incremental', verifiedUpTo: checkpoint.size + 2, checkpoint: { size: checkpoint.size + 2 } });
  });

  it('answers "checking" instead of holding a page while a long check runs, then the verdict', async () => {
    const { createChainWatch } = await import('../../gateway/audit-reader/index.ts');
    const watch = createChainWatch(stack.services.database.db, { verifierKeys: keys(), ttlMs: 60_000, waitMs: 0 });
    const first = await watch.status();
    expect(first).toMatchObject({ ok: false, mode: 'checking', firstBad: null, verifiedUpTo: 0 });
    // Poll on a timer: a loop of bare awaits never yields to I/O, so the check could not finish (it hung CI on PostgreSQL).
    let status = first;
    for (const deadline = Date.now() + 30_000; status.mode === 'checking' && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = await watch.status();
    }
    expect(status).toMatchObject({ ok: true, mode: 'full' });
  });

  it('notices entries removed behind an incremental check', async () => {
    const { createChainWatch } = await import('../../gateway/audit-reader/index.ts');
    const db = stack.services.database.db;
    await stack.services.audit.append([{ kind: 'test.note', actor: 'kernel', data: { n: 3 } }]);
    const tail = (await stack.services.audit.sync())!.size;
    const watch = createChainWatch(db, { verifierKeys: keys(), ttlMs: 0 });
    expect(await watch.status()).toMatchObject({ ok: true, verifiedUpTo: tail });
    await db.execute(sql`create table removed_entry as select * from audit_entries where seq = ${tail}`);
    await db.execute(sql`delete from audit_entries where seq = ${tail}`);
    expect(await watch.status()).toMatchObject({ ok: false, mode: 'incremental', firstBad: { seq: tail, reason: expect.stringMatching(/missing/) } });
    await db.execute(sql`insert into audit_entries select * from removed_entry`);
  });

  it('names the first broken entry after one stored entry is edited with raw SQL', async () => {
    const t = await audit<Timeline>({ op: 'audit.timeline', requestId: ids.approved![1]! });
    const victim = t.entries.find((e) => e.kind === 'approval.decided')!;
    const db = stack.services.database.db;
    await db.execute(sql`update audit_entries set data = jsonb_set(data::jsonb, '{decision}', '"reject"') where seq = ${victim.seq}`);
    const status = await audit<ChainStatus>({ op: 'audit.status', fresh: true });
    expect(status.ok).toBe(false);
    expect(status.firstBad).toEqual({ seq: victim.seq, reason: expect.stringMatching(/edited/) });
    expect(status.verifiedUpTo).toBe(victim.seq - 1);
    const data = victim.data as { [key: string]: Json };
    await db.execute(sql`update audit_entries set data = ${JSON.stringify(data)}::jsonb where seq = ${victim.seq}`);
    expect((await audit<ChainStatus>({ op: 'audit.status', fresh: true })).ok).toBe(true);
  });
});
