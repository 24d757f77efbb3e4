import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// A held call (request.await) is released by a wake-up when its request changes state: in this process directly, or
// from another replica through LISTEN/NOTIFY. A notification can be lost (a dropped listening connection), so the kernel
// also looks once a second, for all held calls at once, for requests that finished (kernel/kernel.ts).

describe('held calls', () => {
  let k: KernelFixture;
  beforeAll(async () => {
    k = await startKernel({ policy: { default: 'approve', rules: [] } });
  });
  afterAll(async () => k?.close());

  it('are released by the safety net when a request finishes without a wake-up', async () => {
    const agentId = await k.addAgent('held', 'owner@example.com');
    const held = await Promise.all(['a', 'b', 'c'].map((key) => k.submit(agentId, 'test_write_note', { key, text: 'held' })));
    expect(held.map((r) => r.state)).toEqual(['pending', 'pending', 'pending']);
    const waiting = held.map((r) => k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId: r.id, agentId, waitMs: 120_000 }));
    // Another replica finished two of them and its notification never arrived: only the rows changed.
    for (const r of held.slice(0, 2)) await k.database.db.update(schema.requests).set({ state: 'cancelled' }).where(eq(schema.requests.id, r.id));
    const released = await Promise.all(waiting.slice(0, 2));
    expect(released.map((r) => r.state)).toEqual(['cancelled', 'cancelled']);
    // The third is still held; cancelling it through the kernel wakes it at once.
    await k.admin.send('kernel', { op: 'request.cancel', requestId: held[2]!.id, agentId, reason: null });
    expect((await waiting[2])!.state).toBe('cancelled');
  });
});
