import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { CAPABILITIES, KernelError, readEntries, schema, type Envelope, type Json, type JsonObject, type Port, type RequestView } from '../../kernel/index.ts';
import { startKernel, type FixtureApprover, type KernelFixture } from '../support/kernel-fixture.ts';

// kernel/flow.ts `run` under a short execution lease (recovery runs every half lease): the lease is renewed while an
// executor works, and an execution started after an approval or by recovery ends as its attempt says.

vi.setConfig({ testTimeout: 60_000 });

const LEASE_MS = 1200;
/** What the executor does on each attempt; `consume` uses the grant as a real executor does before anything runs. */
const scripts = new Map<string, (attempt: number, requestId: string, consume: () => Promise<Json>) => Promise<Json>>();
const attempts = new Map<string, number>();
let k: KernelFixture;
let agentId: string;
let owner: FixtureApprover;
/** Whether the connector lists its tool (false: as if it stopped serving it). */
let listed = true;
let slow: Port;

async function slowHandle(envelope: Envelope): Promise<Json> {
  const m = envelope.body as JsonObject;
  if (m.op === 'tools.list') {
    return !listed ? [] : [{ name: 'slow_write', title: 'Write', description: 'A write', inputSchema: { type: 'object' }, impact: 'write', consequence: 'writes', connector: 'slow', sandbox: true }];
  }
  if (m.op === 'describe') return { args: m.args!, intent: { summary: 'a write', consequence: 'writes', reversible: true, fields: [], pins: {}, sandbox: true } };
  const body = m.body as { requestId: string; args: { key: string } };
  const attempt = (attempts.get(body.args.key) ?? 0) + 1;
  attempts.set(body.args.key, attempt);
  const { jti } = decodeJwt(String(m.grant));
  return scripts.get(body.args.key)!(attempt, body.requestId, () => slow.send('kernel', { op: 'grant.consume', jti: jti!, digest: m.digest! }));
}

beforeAll(async () => {
  k = await startKernel({ leaseMs: LEASE_MS, policy: { default: 'approve', rules: [{ id: 'w', tools: ['slow_write'], when: 'args.key.startsWith("w-")', decision: 'allow' }] } });
  slow = k.router.register('connector.slow', slowHandle, CAPABILITIES.connector);
  await k.kernel.refreshTools();
  agentId = await k.addAgent('bot', 'jane@example.com');
  owner = await k.enroll('jane@example.com');
}, 180_000);
afterAll(async () => {
  await k?.close();
});

const submit = (key: string) => k.submit(agentId, 'slow_write', { key });
const final = (requestId: string) => k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId, agentId, waitMs: 15_000 });
const leaseOf = async (id: string) => (await k.database.db.select().from(schema.requests).where(eq(schema.requests.id, id)))[0]!.leaseUntil!.getTime();
async function kinds(requestId: string): Promise<string[]> {
  await k.audit.sync();
  const found: string[] = [];
  for await (const entry of readEntries(k.database.db, { requestId })) found.push(entry.kind);
  return found;
}

describe('execution under a lease', () => {
  it('renews the lease while its executor works past it, so recovery leaves the execution alone', async () => {
    const leases: number[] = [];
    scripts.set('w-slow', async (_attempt, requestId, consume) => {
      await consume();
      leases.push(await leaseOf(requestId));
      await new Promise((done) => setTimeout(done, 2 * LEASE_MS)); // two leases long: without renewal it lapses
      leases.push(await leaseOf(requestId));
      return { data: { done: true }, text: 'done' };
    });
    const view = await submit('w-slow');
    expect(view.state).toBe('succeeded');
    expect(attempts.get('w-slow')).toBe(1);
    expect(leases[1]).toBeGreaterThan(leases[0]!);
    expect(await kinds(view.id)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.succeeded']);
  });

  it('fails an approved request whose executor reports pin drift: only a second attempt leaves that to a human', async () => {
    scripts.set('held-drift', async () => {
      throw new KernelError('pin_drift', 'the note changed since approval');
    });
    const held = await submit('held-drift');
    await k.decide(held.id, 'approve', k.evidence(owner, held.digest, 'approve'));
    expect(await final(held.id)).toMatchObject({ state: 'failed', error: { code: 'pin_drift', message: 'the note changed since approval' } });
  });

  it('fails an approved request whose connector stopped serving its tool, saying so, without calling it', async () => {
    scripts.set('held-gone', async () => ({ data: { ran: true }, text: 'ran' }));
    const held = await submit('held-gone');
    listed = false;
    try {
      await k.kernel.refreshTools();
      await k.decide(held.id, 'approve', k.evidence(owner, held.digest, 'approve'));
      expect(await final(held.id)).toMatchObject({ state: 'failed', error: { code: 'unknown_tool', message: 'the connector for slow_write is not running' } });
      expect(attempts.get('held-gone')).toBeUndefined();
    } finally {
      listed = true;
      await k.kernel.refreshTools();
    }
  });

  it('fails a second attempt that fails for another reason than pin drift', async () => {
    scripts.set('w-twice', async (attempt) => {
      throw attempt === 1 ? new KernelError('upstream_unknown', 'the answer was lost') : new KernelError('upstream_error', 'upstream said 500');
    });
    const view = await submit('w-twice');
    expect(view.state).toBe('unknown');
    // No grant was used, so recovery (every half lease) runs it again at once.
    await vi.waitFor(() => expect(attempts.get('w-twice')).toBe(2), { timeout: 20_000, interval: 100 });
    expect(await final(view.id)).toMatchObject({ state: 'failed', error: { code: 'upstream_error', message: 'upstream said 500' } });
  });
});
