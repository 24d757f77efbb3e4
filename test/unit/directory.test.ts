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

  describe('what the directory refuses, saying why', () => {
    const send = (body: JsonObject & { op: string }) => k.admin.send<JsonObject>('kernel', body);
    const refused = (body: JsonObject & { op: string }, code: string, message: string | RegExp) => expect(send(body)).rejects.toMatchObject({ code, message });

    it('agents: a valid name, an owner with an e-mail address, one active agent of a name', async () => {
      await refused({ op: 'agent.add', name: '-bot', owner: 'jane@example.com' }, 'bad_request', `agent name "-bot" is not valid: use 1-64 letters, digits, '_', '.' or '-'`);
      await refused({ op: 'agent.add', name: `b${'o'.repeat(64)}`, owner: 'jane@example.com' }, 'bad_request', /is not valid/);
      await refused({ op: 'agent.add', name: 'bot', owner: 'jane at example.com' }, 'bad_request', 'owner "jane at example.com" is not an email address');
      const added = await send({ op: 'agent.add', name: 'a.b_c-1', owner: 'jane@example.com' });
      expect(added.agent).toMatchObject({ name: 'a.b_c-1', owner: 'jane@example.com', revokedAt: null, lastSeenAt: null });
      await refused({ op: 'agent.add', name: 'a.b_c-1', owner: 'jane@example.com' }, 'bad_request', 'an agent named "a.b_c-1" already exists; pick another name or revoke it first');
      // Authenticating notes when it was last seen.
      await send({ op: 'agent.authenticate', token: added.token as string });
      const [listed] = (await k.admin.send<JsonObject[]>('kernel', { op: 'agent.list' })).filter((a) => a.name === 'a.b_c-1');
      expect(listed!.lastSeenAt).toEqual(expect.any(String));
      await send({ op: 'agent.revoke', name: 'a.b_c-1' });
      await refused({ op: 'agent.revoke', name: 'a.b_c-1' }, 'unknown_agent', 'no active agent named "a.b_c-1"; see `countersign agent list`');
    });

    it('approvers and passkeys: an e-mail address, an approver that exists, a passkey of theirs', async () => {
      await refused({ op: 'approver.upsert', email: 'nobody', roles: [] }, 'bad_request', '"nobody" is not an email address');
      const approver = await send({ op: 'approver.upsert', email: ' Ann@Example.com ', roles: ['ops'] });
      expect(await send({ op: 'approver.upsert', email: 'ann@example.com', roles: ['audit', 'ops'] })).toMatchObject({ id: approver.id, email: 'ann@example.com', roles: ['ops', 'audit'] });
      const credential = { id: 'cred-1', publicKey: 'pk', counter: 0, transports: ['internal'], name: 'key' };
      await refused({ op: 'passkey.add', approverId: 'apr_nobody', credential }, 'bad_request', 'no approver apr_nobody');
      await refused({ op: 'passkey.remove', credentialId: 'cred-1', approverId: approver.id as string }, 'bad_request', 'no active passkey cred-1 for this approver');
    });

    it('devices: an Ed25519 public key only, a printable name, an approver, and one approver per key', async () => {
      const approver = await send({ op: 'approver.upsert', email: 'dev@example.com', roles: [] });
      const other = await send({ op: 'approver.upsert', email: 'other@example.com', roles: [] });
      const x = 'A'.repeat(43);
      const add = (publicJwk: unknown, name = 'Passport', approverId = approver.id as string) => ({ op: 'device.add', approverId, name, publicJwk }) as JsonObject & { op: string };
      await refused(add(['OKP']), 'bad_request', 'publicJwk must be a JSON object (a JWK)');
      await refused(add(null), 'bad_request', 'publicJwk must be a JSON object (a JWK)');
      await refused(add({ kty: 'OKP', crv: 'Ed25519', x, d: x }), 'bad_request', /^publicJwk contains a private key \("d"\)/);
      await refused(add({ kty: 'EC', crv: 'Ed25519', x }), 'bad_request', 'publicJwk must be an Ed25519 key (kty "OKP", crv "Ed25519"), got kty "EC", crv "Ed25519"');
      await refused(add({ kty: 'OKP', crv: 'X25519', x }), 'bad_request', /got kty "OKP", crv "X25519"$/);
      for (const bad of [42, 'A'.repeat(42), `${'A'.repeat(42)}=`, `${'A'.repeat(43)}A`])
        await refused(add({ kty: 'OKP', crv: 'Ed25519', x: bad }), 'bad_request', 'publicJwk.x must be the 32-byte Ed25519 public key, base64url without padding (43 characters)');
      for (const name of ['', '   ', 'a\u0007b', 'n'.repeat(65)])
        await refused(add({ kty: 'OKP', crv: 'Ed25519', x }, name), 'bad_request', 'a device name must be 1-64 printable characters, e.g. "Jane\'s Passport"');
      await refused(add({ kty: 'OKP', crv: 'Ed25519', x }, 'Passport', 'apr_nobody'), 'not_an_approver', 'no approver apr_nobody');
      const device = await send(add({ kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA' }, '  Passport  '));
      expect(device).toMatchObject({ approverId: approver.id, name: 'Passport', publicJwk: { kty: 'OKP', crv: 'Ed25519', x } });
      expect(device.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x });
      const taken = /^this device key is already paired, to you or to someone else/;
      await refused(add({ kty: 'OKP', crv: 'Ed25519', x }), 'bad_request', taken);
      await refused(add({ kty: 'OKP', crv: 'Ed25519', x }, 'Passport', other.id as string), 'bad_request', taken);
      // Removed, the key may be paired again by its approver, and by nobody else while someone holds it.
      await refused({ op: 'device.remove', deviceId: device.id as string, approverId: other.id as string }, 'bad_request', `no paired device ${device.id} for this approver (unknown, someone else's, or already removed)`);
      await send({ op: 'device.remove', deviceId: device.id as string, approverId: approver.id as string });
      await refused({ op: 'device.remove', deviceId: device.id as string, approverId: approver.id as string }, 'bad_request', /already removed/);
      expect(await k.admin.send<JsonObject[]>('kernel', { op: 'device.list', approverId: approver.id as string })).toEqual([]);
      expect(await send(add({ kty: 'OKP', crv: 'Ed25519', x }))).toMatchObject({ approverId: approver.id });
    });
  });
});
