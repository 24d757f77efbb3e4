import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The kernel admits a new request only once the audit sequencer has caught up (kernel/audit/log.ts: admit): under a
// flood of writers, entries then reach the signed tree within a few batches instead of queueing without bound.
let k: KernelFixture;
let agentId: string;

beforeAll(async () => {
  // A batch of more than one entry puts the log behind; no idle polling, and no kick: a batch after the first runs
  // only for sync() or because a writer's admission asked for it.
  k = await startKernel({ policy: { default: 'allow', rules: [] }, audit: { maxBacklog: 1, idleMs: 3_600_000, kickMs: 3_600_000 } });
  agentId = await k.addAgent('bot', 'ana@example.com');
}, 60_000);
afterAll(async () => k?.close());

const count = async (table: 'audit_entries' | 'audit_queue') => {
  const result = (await k.database.db.execute(sql.raw(`select count(*)::int as n from ${table}`))) as unknown as { n: number }[] | { rows: { n: number }[] };
  return (Array.isArray(result) ? result : result.rows)[0]!.n;
};
const queue = (from: number, n: number) =>
  k.database.db.transaction(async (tx) => k.audit.append(Array.from({ length: n }, (_, i) => ({ kind: 'test.noted', requestId: null, actor: 'test', data: { n: from + i } })), tx as never));

describe('audit backpressure at the kernel', () => {
  it('holds a new request until the sequencer has integrated what was queued before it, when it is behind', async () => {
    await k.audit.sync();
    await queue(0, 3);
    await k.audit.sync(); // three entries in one batch: behind
    await queue(3, 2);
    const before = await count('audit_entries');
    const request = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect(request.state).toBe('succeeded');
    // The two entries queued before the request were integrated before it was recorded.
    expect(await count('audit_entries')).toBeGreaterThanOrEqual(before + 2);
  });

  it('does not hold requests when the sequencer keeps up', async () => {
    await k.audit.sync();
    await queue(100, 1);
    await k.audit.sync(); // one entry: not behind
    await queue(101, 1);
    const before = await count('audit_entries');
    await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect(await count('audit_entries')).toBe(before); // nothing integrated for it; its own entries wait in the queue
    expect(await count('audit_queue')).toBeGreaterThan(0);
  });
});
