import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, type JsonObject } from '../../kernel/index.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The directory keeps the principal an authentication found for the submit that follows it (kernel/directory.ts), so
// a governed call reads its agent row once. These show that shortcut never outlives a revocation.

describe('agent principals between authentication and submit', () => {
  let k: KernelFixture;
  // The wake-up channel replicas share (LISTEN/NOTIFY on PostgreSQL): what this kernel published, and a way to
  // deliver what another replica would.
  const published: string[] = [];
  let deliver: (id: string) => void = () => {};
  beforeAll(async () => {
    const signals = {
      publish: async (id: string) => void published.push(id),
      subscribe: async (on: (id: string) => void) => ((deliver = on), async () => {}),
    };
    k = await startKernel({ policy: { default: 'allow', rules: [] }, signals });
  });
  afterAll(async () => k?.close());

  async function authenticatedAgent(name: string): Promise<string> {
    return (await authenticated(name)).agentId;
  }
  async function authenticated(name: string): Promise<{ agentId: string; token: string }> {
    const added = await k.admin.send<JsonObject>('kernel', { op: 'agent.add', name, owner: 'owner@example.com' });
    const principal = await k.admin.send<JsonObject>('kernel', { op: 'agent.authenticate', token: added.token as string });
    expect(principal).toMatchObject({ agentName: name });
    return { agentId: principal.agentId as string, token: added.token as string };
  }
  const authenticate = (token: string) => k.admin.send<JsonObject | null>('kernel', { op: 'agent.authenticate', token });

  it('serves the submit right after an authentication', async () => {
    const agentId = await authenticatedAgent('reader');
    const view = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect(view.state).toBe('succeeded');
    expect(view.body.principal).toEqual({ agentId, agentName: 'reader', owner: 'owner@example.com' });
  });

  it('refuses a submit after the agent was revoked, even within the moment its authentication is remembered', async () => {
    const agentId = await authenticatedAgent('revoked-reader');
    await k.admin.send('kernel', { op: 'agent.revoke', name: 'revoked-reader' });
    // A read runs at once, outside the transaction that re-checks the agent row for writes: only the principal
    // look-up stands between a revoked agent and the upstream here.
    await expect(k.submit(agentId, 'test_read_note', { key: 'welcome' })).rejects.toMatchObject({ code: 'unknown_agent' });
    expect(k.connector.executions.filter((e) => e.tool === 'test_read_note')).toHaveLength(1); // the first test's only
  });

  it('refuses a write whose agent another replica revoked while this one still remembers its principal', async () => {
    const agentId = await authenticatedAgent('remote-revoked');
    // Another replica's revocation: the row changes, this kernel is not told (its NOTIFY has not landed yet).
    await k.database.db.update(schema.agents).set({ revokedAt: new Date() }).where(eq(schema.agents.id, agentId));
    const before = k.connector.executions.length;
    // The claim transaction shares the agent's row with revocations, so the write is refused and nothing recorded.
    await expect(k.submit(agentId, 'test_write_note', { key: 'k', text: 'after revocation' })).rejects.toMatchObject({ code: 'unknown_agent' });
    expect(k.connector.executions.length).toBe(before);
    expect(await k.admin.send<JsonObject[]>('kernel', { op: 'request.list', agentId, limit: 10 })).toEqual([]);
  });

  it('stops a remembered token at once when this kernel revokes its agent, and tells the other replicas', async () => {
    const { agentId, token } = await authenticated('revoked-here');
    await k.admin.send('kernel', { op: 'agent.revoke', name: 'revoked-here' });
    expect(await authenticate(token)).toBeNull();
    expect(published).toContain(`agent:${agentId}`);
  });

  it("stops a remembered token at once when another replica's revocation is signalled", async () => {
    const { agentId, token } = await authenticated('revoked-elsewhere');
    // Another replica revokes: the row changes, and its NOTIFY reaches this kernel.
    await k.database.db.update(schema.agents).set({ revokedAt: new Date() }).where(eq(schema.agents.id, agentId));
    deliver(`agent:${agentId}`);
    expect(await authenticate(token)).toBeNull();
    await expect(k.submit(agentId, 'test_read_note', { key: 'welcome' })).rejects.toMatchObject({ code: 'unknown_agent' });
  });
});
