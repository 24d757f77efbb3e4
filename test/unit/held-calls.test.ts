import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { startKernel, type FixtureApprover, type KernelFixture } from '../support/kernel-fixture.ts';

// A held call (request.await) is released by a wake-up when its request changes state: in this process directly, or
// from another replica through LISTEN/NOTIFY. A notification can be lost (a dropped listening connection), so the kernel
// also looks once a second, for all held calls at once, for requests that finished (kernel/kernel.ts).
// The kernel's interval timers are faked here: the safety net runs only when a test advances them, so a call released
// without that was released by its wake-up (remove one and the call stays held until the test times out).

vi.setConfig({ testTimeout: 60_000 });

describe('held calls', () => {
  let k: KernelFixture;
  let agentId: string;
  let owner: FixtureApprover;
  const published: string[] = [];
  let deliver: (id: string) => void = () => {};
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const signals = { publish: async (id: string) => void published.push(id), subscribe: async (on: (id: string) => void) => ((deliver = on), async () => {}) };
    // A configured origin with a trailing slash still links to one path.
    k = await startKernel({ policy: { default: 'approve', rules: [] }, signals, publicUrl: 'http://localhost:8787/' });
    agentId = await k.addAgent('held', 'owner@example.com');
    owner = await k.enroll('owner@example.com');
  }, 180_000);
  afterAll(async () => {
    await k?.close();
    vi.useRealTimers();
  });

  const held = async (key: string) => k.submit(agentId, 'test_write_note', { key, text: 'held' });
  const hold = (requestId: string, waitMs = 120_000) => k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId, agentId, waitMs });
  /**
   * A call held on `requestId`, once it is surely waiting: a wake-up sent while it still reads the request would be
   * lost (the safety net is there for that). A probe held for 0.5 s alongside it returns only after both are waiting.
   */
  async function waitingOn(requestId: string) {
    const [probe, call] = [hold(requestId, 500), hold(requestId)];
    expect((await probe).state).toBe('pending');
    return { call }; // not `call` itself: an async function's result would wait for it
  }
  /** Runs the kernel's one-second timers until `call` is released. */
  async function byTheNet<T>(call: Promise<T>): Promise<T> {
    let released = false;
    void call.finally(() => (released = true));
    while (!released) {
      vi.advanceTimersByTime(1000);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return call;
  }

  it('are released by the safety net when a request finishes without a wake-up', async () => {
    const requests = await Promise.all(['a', 'b', 'c'].map(held));
    expect(requests.map((r) => r.state)).toEqual(['pending', 'pending', 'pending']);
    expect(requests[0]!.approvalUrl).toBe(`http://localhost:8787/requests/${requests[0]!.id}`);
    const waiting = requests.map((r) => hold(r.id));
    // Another replica finished two of them and its notification never arrived: only the rows changed.
    for (const r of requests.slice(0, 2)) await k.database.db.update(schema.requests).set({ state: 'cancelled' }).where(eq(schema.requests.id, r.id));
    const released = await byTheNet(Promise.all(waiting.slice(0, 2)));
    expect(released.map((r) => r.state)).toEqual(['cancelled', 'cancelled']);
    // The third is still held; cancelling it through the kernel wakes it at once, and tells the other replicas.
    await k.admin.send('kernel', { op: 'request.cancel', requestId: requests[2]!.id, agentId, reason: null });
    expect((await waiting[2])!.state).toBe('cancelled');
    expect(published).toContain(requests[2]!.id);
  });

  it('are released by a wake-up from another replica', async () => {
    const request = await held('remote');
    const { call: waiting } = await waitingOn(request.id);
    await k.database.db.update(schema.requests).set({ state: 'cancelled' }).where(eq(schema.requests.id, request.id));
    deliver(request.id);
    expect((await waiting).state).toBe('cancelled');
  });

  it('are released by a decision and by an expiry, and a call timing out leaves the others on its request held', async () => {
    const decided = await held('decided');
    const short = hold(decided.id, 1500);
    const { call: long } = await waitingOn(decided.id);
    // A wake-up with no change (another replica's, say): both look again and wait on.
    deliver(decided.id);
    expect((await short).state).toBe('pending');
    await k.decide(decided.id, 'reject', k.evidence(owner, decided.digest, 'reject'));
    expect((await long).state).toBe('rejected');
    // An expiry found when someone next looks at pending requests (here: a challenge) wakes its held calls too.
    const expiring = await held('expiring');
    const { call: waiting } = await waitingOn(expiring.id);
    await k.database.db.update(schema.requests).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(schema.requests.id, expiring.id));
    await expect(k.admin.send('kernel', { op: 'approval.challenge', requestId: expiring.id, decision: 'approve', approverId: owner.id })).rejects.toMatchObject({ code: 'not_pending' });
    expect((await waiting).state).toBe('expired');
  });

  it('close() waits for an execution an approval started, and stops the sweeper, the safety net and recovery', async () => {
    const request = await held('approved');
    const [expiring, orphan, finished] = await Promise.all(['after-close-1', 'after-close-2', 'after-close-3'].map(held));
    const { call } = await waitingOn(finished!.id);
    let released = false;
    void call.then(() => (released = true));
    await k.decide(request.id, 'approve', k.evidence(owner, request.digest, 'approve'));
    await k.kernel.close();
    const stateOf = async (id: string) => (await k.database.db.select().from(schema.requests).where(eq(schema.requests.id, id)))[0]!.state;
    expect(await stateOf(request.id)).toBe('succeeded');
    // Past its expiry, approved long ago with no replica running it, finished without a wake-up: a closed kernel
    // leaves all three alone however long its timers would have run.
    const set = (id: string, values: Partial<typeof schema.requests.$inferInsert>) => k.database.db.update(schema.requests).set(values).where(eq(schema.requests.id, id));
    await set(expiring!.id, { expiresAt: new Date(Date.now() - 1000) });
    await set(orphan!.id, { state: 'approved', updatedAt: new Date(Date.now() - 3_600_000) });
    await set(finished!.id, { state: 'cancelled' });
    vi.advanceTimersByTime(61_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([await stateOf(expiring!.id), await stateOf(orphan!.id), released]).toEqual(['pending', 'approved', false]);
    deliver(finished!.id);
    expect((await call).state).toBe('cancelled');
  });
});
