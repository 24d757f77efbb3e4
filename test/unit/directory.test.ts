import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, type JsonObject } from '../../kernel/index.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// The directory keeps the principal an authentication found for the submit that follows it (kernel/directory.ts), so
// a governed call reads its agent row once. These show that shortcut never outlives a revocation.

describe('agent principals between authentication and submit', () => {
  let k: KernelFixture;
  beforeAll(async () => {
    k = await startKernel({ policy: { default: 'allow', rules: [] } });
  });
  afterAll(async () => k?.close());

  async function authenticatedAgent(name: string): Promise<string> {
    const added = await k.admin.send<JsonObject>('kernel', { op: 'agent.add', name, owner: 'owner@example.com' });
    const principal = await k.admin.send<JsonObject>('kernel', { op: 'agent.authenticate', token: added.token as string });
    expect(principal).toMatchObject({ agentName: name });
    return principal.agentId as string;
  }

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
});
