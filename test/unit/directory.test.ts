import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, sha256Hex, type Db, type JsonObject } from '../../kernel/index.ts';
import { createDirectory } from '../../kernel/directory.ts';
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

  describe('what it stores, and how long a look-up is remembered', () => {
    const db = () => k.database.db as unknown as Db;

    it('stores a token only as its domain-separated SHA-256, and ids as prefix_ and 32 hex digits', async () => {
      const directory = createDirectory(db());
      const { agent, token } = await directory.addAgent('stored-bot', 'owner@example.com');
      expect(token).toMatch(/^cs_agent_[A-Za-z0-9_-]{43}$/);
      const [row] = await db().select().from(schema.agents).where(eq(schema.agents.id, agent.id));
      // Existing installs hold these hashes: changing the domain string would lock every agent out.
      expect(row!.tokenHash).toBe(sha256Hex('countersign/agent-token/v1\0', token));
      expect(row!.tokenHash).not.toContain(token.slice(9));
      expect(agent.id).toMatch(/^agt_[0-9a-f]{32}$/);
      const approver = await directory.upsertApprover('ids@example.com', []);
      expect(approver.id).toMatch(/^apr_[0-9a-f]{32}$/);
      // The device API checks kid against exactly this shape (approval-web/devices/auth.ts).
      const device = await directory.addDevice(approver.id, 'Desk', { kty: 'OKP', crv: 'Ed25519', x: 'B'.repeat(43) });
      expect(device.id).toMatch(/^dev_[0-9a-f]{32}$/);
      // Stored as the whole public JWK (the database is read by operators and backups too), not only its x.
      const [stored] = await db().select().from(schema.devices).where(eq(schema.devices.id, device.id));
      expect(stored!.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: 'B'.repeat(43) });
      await expect(directory.addDevice(approver.id, 42 as unknown as string, { kty: 'OKP', crv: 'Ed25519', x: 'C'.repeat(43) })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/device name/) });
      await expect(directory.addDevice(approver.id, 'Desk', 'x' as unknown as JsonObject)).rejects.toMatchObject({ message: 'publicJwk must be a JSON object (a JWK)' });
      await expect(directory.addDevice(approver.id, 'Desk', { kty: 'OKP', crv: 'Ed25519', x: 'D'.repeat(43), d: 'x' })).rejects.toMatchObject({
        message: 'publicJwk contains a private key ("d"); send only the public key, and generate a new key pair since this one has left the device',
      });
    });

    it('remembers a token\'s principal for two seconds, then reads the agent row again', async () => {
      const directory = createDirectory(db());
      const { agent, token } = await directory.addAgent('cached-bot', 'owner@example.com');
      expect(await directory.authenticate(token)).toMatchObject({ agentName: 'cached-bot', owner: 'owner@example.com' });
      // Changed behind the directory's back: the remembered principal still answers for a moment...
      await db().update(schema.agents).set({ owner: 'new-owner@example.com' }).where(eq(schema.agents.id, agent.id));
      expect(await directory.authenticate(token)).toMatchObject({ owner: 'owner@example.com' });
      expect(await directory.principal(agent.id)).toMatchObject({ owner: 'owner@example.com' });
      // ...and not after two seconds.
      await new Promise((r) => setTimeout(r, 2100));
      expect(await directory.principal(agent.id)).toMatchObject({ owner: 'new-owner@example.com' });
      expect(await directory.authenticate(token)).toMatchObject({ owner: 'new-owner@example.com' });
      // A principal looked up by id is remembered the same way.
      await db().update(schema.agents).set({ owner: 'third@example.com' }).where(eq(schema.agents.id, agent.id));
      expect(await directory.principal(agent.id)).toMatchObject({ owner: 'new-owner@example.com' });
      expect(await createDirectory(db()).principal(agent.id)).toMatchObject({ owner: 'third@example.com' });
    });

    it('remembers a principal for less than two seconds: at 1,999 ms it answers, at 2,000 ms the row is read', async () => {
      const directory = createDirectory(db());
      const { agent, token } = await directory.addAgent('boundary-bot', 'owner@example.com');
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        const t0 = Date.now();
        await directory.authenticate(token);
        await db().update(schema.agents).set({ owner: 'later@example.com' }).where(eq(schema.agents.id, agent.id));
        vi.setSystemTime(t0 + 1999);
        expect(await directory.principal(agent.id)).toMatchObject({ owner: 'owner@example.com' });
        expect(await directory.authenticate(token)).toMatchObject({ owner: 'owner@example.com' });
        vi.setSystemTime(t0 + 2000);
        expect(await directory.principal(agent.id)).toMatchObject({ owner: 'later@example.com' });
        expect(await directory.authenticate(token)).toMatchObject({ owner: 'later@example.com' });
      } finally {
        vi.useRealTimers();
      }
    });

    it('notes when an agent was last seen at most once a minute', async () => {
      const { agent, token } = await createDirectory(db()).addAgent('seen-bot', 'owner@example.com');
      const lastSeen = async () => (await db().select().from(schema.agents).where(eq(schema.agents.id, agent.id)))[0]!.lastSeenAt;
      expect(await lastSeen()).toBeNull();
      await createDirectory(db()).authenticate(token);
      const first = await lastSeen();
      expect(first).toBeInstanceOf(Date);
      await new Promise((r) => setTimeout(r, 20));
      await createDirectory(db()).authenticate(token); // a fresh directory: nothing remembered, so the row is read
      expect(await lastSeen()).toEqual(first);
      const longAgo = new Date(Date.now() - 61_000);
      await db().update(schema.agents).set({ lastSeenAt: longAgo }).where(eq(schema.agents.id, agent.id));
      await createDirectory(db()).authenticate(token);
      expect((await lastSeen())!.getTime()).toBeGreaterThan(longAgo.getTime() + 60_000);
      const recently = new Date(Date.now() - 59_000);
      await db().update(schema.agents).set({ lastSeenAt: recently }).where(eq(schema.agents.id, agent.id));
      await createDirectory(db()).authenticate(token);
      expect(await lastSeen()).toEqual(recently);
    });

    it('changes roles by e-mail as typed, and gives the roles before and after sorted', async () => {
      const directory = createDirectory(db());
      await directory.upsertApprover('roles@example.com', ['zeta', 'ops']);
      const changed = await directory.changeRoles('  Roles@Example.com ', ['beta', 'alpha'], ['ops']);
      expect(changed.before).toEqual(['ops', 'zeta']);
      expect(changed.after.roles).toEqual(['alpha', 'beta', 'zeta']);
      expect((await directory.getApprover({ email: 'roles@example.com' }))!.roles).toEqual(['alpha', 'beta', 'zeta']);
      expect(await directory.getApprover({})).toBeNull();
    });
  });
});
