import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { checkpointText, createNoteSigner, readEntries, schema, verifyStored, type AuditEntry, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { createSoftAuthenticator } from '../support/authenticator.ts';
import { FIXTURE_URL, startKernel, type FixtureApprover, type KernelFixture } from '../support/kernel-fixture.ts';

// The kernel endpoint's ops (kernel/kernel.ts) that the request path's tests do not reach: agents, views, approvers'
// keys and devices, refusals at the edges; each checked for what it returns and what it writes to the audit log.

vi.setConfig({ testTimeout: 60_000 });

let k: KernelFixture;
let owner: FixtureApprover;

beforeAll(async () => {
  k = await startKernel({ roles: { finance: ['fin@example.com'] }, policy: { default: 'approve', rules: [{ id: 'reads', tools: ['test_read_note'], decision: 'allow' }] } });
  owner = await k.enroll('jane@example.com');
}, 180_000);
afterAll(async () => {
  await k?.close();
});

const send = <T = JsonObject>(body: JsonObject & { op: string }) => k.admin.send<T & JsonObject>('kernel', body);
async function audit(filter: { requestId?: string; kind?: string }): Promise<AuditEntry[]> {
  await k.audit.sync();
  const entries: AuditEntry[] = [];
  for await (const entry of readEntries(k.database.db, filter)) entries.push(entry);
  return entries;
}

describe('agents', () => {
  it('adds, lists and resolves an agent, and connects an OAuth client to an active agent only for its owner', async () => {
    const added = await send({ op: 'agent.add', name: 'ops-bot', owner: 'jane@example.com', by: 'apr_1', client: 'Claude' });
    expect(added.token).toMatch(/^cs_agent_/);
    const agent = added.agent as JsonObject;
    expect(await audit({ kind: 'agent.added' })).toEqual([
      expect.objectContaining({ actor: 'test.admin:approver:apr_1', data: { name: 'ops-bot', owner: 'jane@example.com', client: 'Claude' } }),
    ]);
    expect(await send<JsonObject[]>({ op: 'agent.list' })).toEqual([expect.objectContaining({ id: agent.id, name: 'ops-bot', revokedAt: null })]);
    expect(await send({ op: 'agent.resolve', name: 'ops-bot' })).toEqual({ agentId: agent.id, agentName: 'ops-bot', owner: 'jane@example.com' });
    expect(await send({ op: 'agent.resolve', name: 'nobody' })).toBeNull();
    // A second consent by the owner (any case) connects to the same agent, with no new token.
    const connected = await send({ op: 'agent.add', name: 'ops-bot', owner: 'JANE@example.com', existing: true });
    expect(connected).toEqual({ agent: { id: agent.id, name: 'ops-bot', owner: 'jane@example.com' }, token: null });
    expect(await audit({ kind: 'agent.connected' })).toEqual([expect.objectContaining({ actor: 'test.admin', data: { name: 'ops-bot', owner: 'jane@example.com' } })]);
    await expect(send({ op: 'agent.add', name: 'ops-bot', owner: 'mallory@example.com', existing: true })).rejects.toMatchObject({
      code: 'unknown_agent',
      message: 'mallory@example.com owns no active agent named "ops-bot"',
    });
    await expect(send({ op: 'agent.add', name: 'no-such-bot', owner: 'jane@example.com', existing: true })).rejects.toMatchObject({ code: 'unknown_agent' });
  });

  it('revokes an agent: what it has not started is cancelled, its token stops working', async () => {
    const added = await send({ op: 'agent.add', name: 'doomed', owner: 'jane@example.com' });
    const agentId = (added.agent as JsonObject).id as string;
    const pending = await k.submit(agentId, 'test_write_note', { key: 'doomed', text: 'x' });
    const done = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect([pending.state, done.state]).toEqual(['pending', 'succeeded']);
    await send({ op: 'agent.revoke', name: 'doomed', by: 'apr_2' });
    const after = await send<RequestView>({ op: 'request.get', requestId: pending.id });
    expect(after).toMatchObject({ state: 'cancelled', error: { code: 'agent_revoked' }, approvalUrl: null });
    expect((await send<RequestView>({ op: 'request.get', requestId: done.id })).state).toBe('succeeded');
    const actor = 'test.admin:approver:apr_2';
    expect((await audit({ kind: 'agent.revoked' })).at(-1)).toMatchObject({ actor, data: { name: 'doomed', cancelled: 1 } });
    expect((await audit({ requestId: pending.id })).at(-1)).toMatchObject({
      kind: 'request.cancelled',
      actor,
      data: { reason: 'agent doomed was revoked, so this request was cancelled and not executed' },
    });
    expect(await send({ op: 'agent.authenticate', token: added.token as string })).toBeNull();
  });
});

describe('requests as each party sees them', () => {
  it('links a request to its approval page only while a human is asked, and hides it from other agents', async () => {
    const agentId = ((await send({ op: 'agent.add', name: 'viewer-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    const other = ((await send({ op: 'agent.add', name: 'other-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    const pending = await k.submit(agentId, 'test_write_note', { key: 'viewed', text: 'x' });
    expect(pending.approvalUrl).toBe(`${FIXTURE_URL}/requests/${pending.id}`);
    expect((await k.submit(agentId, 'test_read_note', { key: 'welcome' })).approvalUrl).toBeNull();
    // Held no longer than asked; another agent cannot wait on it, cancel it or learn it exists.
    expect(await send<RequestView>({ op: 'request.await', requestId: pending.id, agentId, waitMs: 0 })).toMatchObject({ id: pending.id, state: 'pending' });
    await expect(send({ op: 'request.await', requestId: pending.id, agentId: other, waitMs: 0 })).rejects.toMatchObject({ code: 'unknown_request', message: `no request ${pending.id} for this agent` });
    await expect(send({ op: 'request.cancel', requestId: pending.id, agentId: other, reason: null })).rejects.toMatchObject({ code: 'unknown_request' });
    await expect(send({ op: 'request.get', requestId: 'req_never_made' })).rejects.toMatchObject({ code: 'unknown_request', message: 'no request req_never_made' });
    // An approver sees it only if they may decide it.
    const mallory = await k.enroll('mallory@example.com');
    expect(await send({ op: 'request.view', requestId: pending.id, approverId: owner.id })).toMatchObject({ id: pending.id });
    await expect(send({ op: 'request.view', requestId: pending.id, approverId: mallory.id })).rejects.toMatchObject({ code: 'unknown_request' });
    await expect(send({ op: 'request.view', requestId: pending.id, approverId: 'apr_nobody' })).rejects.toMatchObject({ code: 'unknown_request' });
    // A held await returns once the request is decided.
    const awaited = send<RequestView>({ op: 'request.await', requestId: pending.id, agentId, waitMs: 30_000 });
    await k.decide(pending.id, 'approve', k.evidence(owner, pending.digest, 'approve'));
    expect((await awaited).state).toBe('succeeded');
    await expect(send({ op: 'request.cancel', requestId: pending.id, agentId, reason: null })).rejects.toMatchObject({
      code: 'not_pending',
      message: `request ${pending.id} is succeeded; only a pending request can be cancelled`,
    });
  });

  it('links an outcome nobody could tell to its page while it waits for a human, and nothing else', async () => {
    const agentId = ((await send({ op: 'agent.add', name: 'unknown-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    const request = await k.submit(agentId, 'test_write_note', { key: 'unknown', text: 'x' });
    const url = async (state: string, code: string) => {
      await k.database.db.update(schema.requests).set({ state, error: { code, message: 'm' } }).where(eq(schema.requests.id, request.id));
      return (await send<RequestView>({ op: 'request.get', requestId: request.id })).approvalUrl;
    };
    expect(await url('unknown', 'outcome_unknown')).toBe(`${FIXTURE_URL}/requests/${request.id}`);
    expect(await url('unknown', 'upstream_error')).toBeNull();
    expect(await url('failed', 'outcome_unknown')).toBeNull();
  });

  it("lists an agent's requests newest first, at least one and at most as many as asked", async () => {
    const agentId = ((await send({ op: 'agent.add', name: 'lister-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    const first = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    const second = await k.submit(agentId, 'test_write_note', { key: 'listed', text: 'x' });
    const list = async (limit: number, who: string | null = agentId) => (await send<RequestView[]>({ op: 'request.list', agentId: who, limit })).map((r) => r.id);
    expect(await list(10)).toEqual([second.id, first.id]);
    expect(await list(1)).toEqual([second.id]);
    expect(await list(0)).toEqual([second.id]);
    expect((await list(200, null)).length).toBeGreaterThan(2);
  });

  it('lists the tools of the running connectors, and refuses an op it does not know', async () => {
    const tools = await send<JsonObject[]>({ op: 'tools.list' });
    expect(tools.map((t) => t.name)).toEqual(['test_read_note', 'test_write_note', 'test_delete_all']);
    await expect(send({ op: 'agent.delete' })).rejects.toMatchObject({ code: 'bad_request', message: 'unknown kernel op "agent.delete"' });
  });
});

describe('approvers, their passkeys and devices', () => {
  it('audits a change of roles, and only a change', async () => {
    const changed = await send({ op: 'approver.roles', email: 'Ops@Example.com', grant: ['finance', 'ops'], revoke: [] });
    expect(changed).toMatchObject({ email: 'ops@example.com', roles: ['finance', 'ops'] });
    await send({ op: 'approver.roles', email: 'ops@example.com', grant: ['ops'], revoke: [] });
    await send({ op: 'approver.roles', email: 'ops@example.com', grant: [], revoke: ['ops'] });
    expect((await audit({ kind: 'approver.roles.changed' })).map((e) => e.data)).toEqual([
      { email: 'ops@example.com', before: [], after: ['finance', 'ops'] },
      { email: 'ops@example.com', before: ['finance', 'ops'], after: ['finance'] },
    ]);
    // Roles from the config file count too (fin@ is listed under finance there).
    const fin = await k.enroll('fin@example.com');
    expect(await send({ op: 'approver.get', email: null, approverId: fin.id })).toMatchObject({ email: 'fin@example.com', roles: [], effectiveRoles: ['finance'] });
    expect(await send({ op: 'approver.get', email: 'nobody@example.com', approverId: null })).toBeNull();
  });

  it('audits a passkey enrolled and removed, and a removed one is no longer found', async () => {
    const approver = await send({ op: 'approver.upsert', email: 'keys@example.com', roles: [] });
    const authenticator = createSoftAuthenticator({ rpId: 'localhost', origin: FIXTURE_URL });
    const credential = { ...authenticator.credentialForKernel(), transports: ['internal'], name: 'soft authenticator' } as JsonObject;
    const [approverId, credentialId] = [approver.id as string, credential.id as string];
    expect(await send({ op: 'passkey.add', approverId, credential })).toBe(true);
    expect((await audit({ kind: 'passkey.enrolled' })).at(-1)).toMatchObject({
      actor: 'test.admin',
      data: { credentialId, approverId, email: 'keys@example.com', publicKey: credential.publicKey },
    });
    expect(await send({ op: 'passkey.lookup', credentialId })).toMatchObject({ approverId, email: 'keys@example.com' });
    expect(await send({ op: 'passkey.remove', credentialId, approverId })).toBe(true);
    expect(await send({ op: 'passkey.lookup', credentialId })).toBeNull();
    expect((await audit({ kind: 'passkey.removed' })).at(-1)).toMatchObject({ actor: 'test.admin', data: { credentialId, approverId } });
  });

  it('audits a device paired and removed, by whom', async () => {
    const approver = await k.enroll('dev@example.com');
    const keys = (await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify'])) as CryptoKeyPair;
    const { x } = await crypto.subtle.exportKey('jwk', keys.publicKey);
    const device = await send({ op: 'device.add', approverId: approver.id, name: 'Passport', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: x! } });
    expect(await send<JsonObject[]>({ op: 'device.list', approverId: approver.id })).toEqual([device]);
    expect(await send({ op: 'device.lookup', deviceId: device.id as string })).toMatchObject({ id: device.id, email: 'dev@example.com' });
    expect((await audit({ kind: 'device.paired' })).at(-1)).toMatchObject({ actor: 'test.admin', data: { deviceId: device.id, approverId: approver.id, name: 'Passport', x } });
    await send({ op: 'device.remove', deviceId: device.id as string, approverId: approver.id });
    expect(await send({ op: 'device.lookup', deviceId: device.id as string })).toBeNull();
    expect((await audit({ kind: 'device.removed' })).at(-1)).toMatchObject({ actor: `test.admin:approver:${approver.id}`, data: { deviceId: device.id, name: 'Passport' } });
  });
});

describe('refusals at the edges', () => {
  it('audits them once per kind with a count, never the token', async () => {
    for (const token of ['cs_agent_wrong1', 'cs_agent_wrong2', 'cs_agent_wrong3']) expect(await send({ op: 'agent.authenticate', token })).toBeNull();
    // A token that works is no refusal.
    const valid = await send({ op: 'agent.add', name: 'valid-bot', owner: 'jane@example.com' });
    expect(await send({ op: 'agent.authenticate', token: valid.token as string })).toMatchObject({ agentName: 'valid-bot' });
    expect(await send({ op: 'edge.refused', what: 'cross-site!', detail: 'a form POST from https://evil.example' })).toBe(true);
    expect(await send({ op: 'edge.refused', what: 'oversize', detail: `${'x'.repeat(200)}and more` })).toBe(true);
    // Flushed a second after the first of each kind.
    await vi.waitFor(async () => expect(await audit({ kind: 'edge.refused.crosssite' })).toHaveLength(1), { timeout: 10_000, interval: 200 });
    // Four refused tokens in all (the revocation test's one too, perhaps in the same second): counted, not one entry each.
    const total = async () => (await audit({ kind: 'auth.failed' })).reduce((sum, e) => sum + ((e.data as { count: number }).count), 0);
    await vi.waitFor(async () => expect(await total()).toBe(4), { timeout: 10_000, interval: 200 });
    const failed = await audit({ kind: 'auth.failed' });
    expect(failed.length).toBeLessThanOrEqual(2);
    expect(failed.at(-1)).toMatchObject({ actor: 'test.admin', data: { from: 'test.admin', detail: 'invalid or revoked agent token' } });
    expect(JSON.stringify(failed)).not.toContain('cs_agent_wrong');
    expect((await audit({ kind: 'edge.refused.crosssite' }))[0]!.data).toMatchObject({ count: 1, detail: 'a form POST from https://evil.example' });
    // Details are cut to 200 characters.
    await vi.waitFor(async () => expect(await audit({ kind: 'edge.refused.oversize' })).toHaveLength(1), { timeout: 10_000, interval: 200 });
    expect((await audit({ kind: 'edge.refused.oversize' }))[0]!.data).toMatchObject({ detail: 'x'.repeat(200) });
  });
});

describe('recovery', () => {
  it('leaves to another replica an approved request of a tool no connector here serves', async () => {
    const agentId = ((await send({ op: 'agent.add', name: 'elsewhere-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    const request = await k.submit(agentId, 'test_write_note', { key: 'elsewhere', text: 'x' });
    const orphan = { state: 'approved', tool: 'other_write', updatedAt: new Date(Date.now() - 3_600_000) };
    await k.database.db.update(schema.requests).set(orphan).where(eq(schema.requests.id, request.id));
    expect(await k.kernel.recover()).toBe(1);
    expect((await send<RequestView>({ op: 'request.get', requestId: request.id })).state).toBe('approved');
    await k.database.db.update(schema.requests).set({ state: 'cancelled' }).where(eq(schema.requests.id, request.id));
  });
});

describe('the log it keeps', () => {
  it('verifies against its stored checkpoints and any trusted one, which must match too', async () => {
    // Entries of its own (run alone, as Stryker runs it, the log would hold only the fixture's enrollment).
    const agentId = ((await send({ op: 'agent.add', name: 'logged-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    const { verifierKey, name, sign } = createNoteSigner('localhost/countersign/audit', k.keys.privateKey, k.keys.publicJwk as unknown as JsonObject);
    const n = (await audit({})).length;
    expect(await verifyStored(k.database.db, [verifierKey])).toMatchObject({ ok: true, entries: n, size: n, checkpoint: { size: n } });
    const forged = sign(checkpointText(name, 1, Buffer.alloc(32)));
    expect(await verifyStored(k.database.db, [verifierKey], [forged])).toMatchObject({ ok: false, firstBad: { seq: 1, reason: expect.stringMatching(/another root/) } });
  });
});

describe('the notifier', () => {
  it('is told of a request that waits for approval, and of nothing else', async () => {
    const told: JsonObject[] = [];
    k.router.register('notifier', async (envelope) => (told.push(envelope.body as JsonObject), null), []);
    const agentId = ((await send({ op: 'agent.add', name: 'notified-bot', owner: 'jane@example.com' })).agent as JsonObject).id as string;
    await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    const pending = await k.submit(agentId, 'test_write_note', { key: 'notified', text: 'x' });
    await vi.waitFor(() => expect(told).toHaveLength(1), { timeout: 10_000, interval: 50 });
    expect(told).toEqual([{ op: 'approval.requested', requestId: pending.id, summary: pending.intent.summary, url: pending.approvalUrl }]);
  });
});
