import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq } from 'drizzle-orm';
import { mintGrant, recordGrant, CAPABILITIES, type RequestBody } from '../../kernel/index.ts';
import { approvalChallenge, readEntries, schema, type JsonObject, type RequestView } from '../../kernel/index.ts';
import { startKernel, type FixtureApprover, type KernelFixture } from '../support/kernel-fixture.ts';
import { createPassportKey } from '../support/passport-key.ts';

// `approval.decide` on the real kernel (PGlite in memory), as the web app and a device send it. The challenge is
// deterministic (derived from digest and decision), so a caller can skip `approval.challenge` and its eligibility
// check: these tests do exactly that, and so only `decide`'s own checks stand between them and a counted decision.

// Each test runs several kernel transactions on PGlite; on a loaded machine (or under Stryker) that takes more than
// the unit project's default 5 s.
vi.setConfig({ testTimeout: 60_000 });

let k: KernelFixture;
let agentId: string;
let owner: FixtureApprover;
let mallory: FixtureApprover;
let finance: FixtureApprover;

beforeAll(async () => {
  k = await startKernel({
    roles: { finance: ['fin@example.com'] },
    policy: {
      default: 'approve',
      rules: [
        { id: 'finance-deletes', tools: ['test_delete_all'], decision: 'approve', approvers: { role: 'finance', count: 1 } },
        { id: 'two-owners', tools: ['test_read_note'], decision: 'approve', approvers: { role: 'finance', count: 2 } },
        { id: 'short-lived', tools: ['test_write_note'], when: 'args.key.startsWith("expiring")', decision: 'approve', expires: '1s' },
      ],
    },
  });
  agentId = await k.addAgent('bot', 'jane@example.com');
  owner = await k.enroll('jane@example.com');
  mallory = await k.enroll('mallory@example.com');
  finance = await k.enroll('fin@example.com');
}, 180_000); // PGlite starts slowly on a busy machine, and slower still under Stryker's instrumentation
afterAll(async () => {
  await k?.close();
});

let notes = 0;
const pendingWrite = () => k.submit(agentId, 'test_write_note', { key: `n${++notes}`, text: 'hello' });

async function refusals(requestId: string) {
  const codes: string[] = [];
  await k.audit.sync();
  for await (const e of readEntries(k.database.db, { requestId, kind: 'approval.refused' })) codes.push((e.data as { error: { code: string } }).error.code);
  return codes;
}

async function stateOf(requestId: string) {
  return (await k.admin.send<RequestView & Record<string, never>>('kernel', { op: 'request.get', requestId })).state;
}

describe('decide-time eligibility', () => {
  it("refuses a valid passkey assertion from an enrolled approver who is not the agent's owner", async () => {
    const request = await pendingWrite();
    expect(request.state).toBe('pending');
    const evidence = k.evidence(mallory, request.digest, 'approve');
    await expect(k.decide(request.id, 'approve', evidence)).rejects.toMatchObject({
      code: 'not_an_approver',
      message: expect.stringContaining('mallory@example.com may not decide this request: it needs owner'),
    });
    expect(await stateOf(request.id)).toBe('pending');
    expect(await refusals(request.id)).toEqual(['not_an_approver']);
    expect(k.connector.executions.filter((e) => e.requestId === request.id)).toEqual([]);
  });

  it('refuses an approver outside the required role, and a rejection from them too', async () => {
    const request = await k.submit(agentId, 'test_delete_all', { confirm: 'yes' });
    await expect(k.decide(request.id, 'approve', k.evidence(owner, request.digest, 'approve'))).rejects.toMatchObject({ code: 'not_an_approver' });
    await expect(k.decide(request.id, 'reject', k.evidence(mallory, request.digest, 'reject'))).rejects.toMatchObject({ code: 'not_an_approver' });
    expect(await stateOf(request.id)).toBe('pending');
    // The member of the role decides, and the request runs.
    const decided = await k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'));
    expect(decided.state).not.toBe('pending');
    expect(['approved', 'executing', 'succeeded']).toContain(decided.state);
  });

  it("counts the owner's decision", async () => {
    const request = await pendingWrite();
    const decided = await k.decide(request.id, 'reject', k.evidence(owner, request.digest, 'reject'));
    expect(decided.state).toBe('rejected');
  });
});

describe('a decision that counts', () => {
  async function entries(requestId: string, kind: string) {
    const found: JsonObject[] = [];
    await k.audit.sync();
    for await (const e of readEntries(k.database.db, { requestId, kind })) found.push({ actor: e.actor, data: e.data } as JsonObject);
    return found;
  }

  it('an approval starts the execution once, and the audit holds the decision with its evidence and the outcome', async () => {
    const request = await pendingWrite();
    const decided = await k.decide(request.id, 'approve', k.evidence(owner, request.digest, 'approve'));
    expect(['approved', 'executing', 'succeeded']).toContain(decided.state);
    // Started by the decision itself: left to the sweep (a later, separate recovery) it would still be approved here.
    const final = await k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId: request.id, agentId: null, waitMs: 20_000 });
    expect(final.state).toBe('succeeded');
    expect(k.connector.executions.filter((e) => e.requestId === request.id)).toHaveLength(1);
    const [decision] = await entries(request.id, 'approval.decided');
    expect(decision).toMatchObject({ actor: `approver:${owner.id}`, data: { decision: 'approve', reason: null, approver: owner.email, evidenceKind: 'webauthn', digest: request.digest } });
    expect((decision!.data as JsonObject).keyId).toEqual(expect.any(String));
    expect((decision!.data as JsonObject).receipt).toEqual(expect.objectContaining({}));
    expect(await entries(request.id, 'request.approved')).toEqual([{ actor: 'kernel', data: { approvals: 1 } }]);
  });

  it('a rejection executes nothing, and the audit says rejected with no approval', async () => {
    const request = await pendingWrite();
    expect((await k.decide(request.id, 'reject', k.evidence(owner, request.digest, 'reject'))).state).toBe('rejected');
    expect(await entries(request.id, 'request.rejected')).toEqual([{ actor: 'kernel', data: { approvals: 0 } }]);
    expect(await entries(request.id, 'request.approved')).toEqual([]);
    expect(k.connector.executions.filter((e) => e.requestId === request.id)).toEqual([]);
  });

  it('a first approval of a quorum of two leaves the request pending, audited as a decision only', async () => {
    const request = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect((await k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'))).state).toBe('pending');
    expect(await entries(request.id, 'approval.decided')).toHaveLength(1);
    expect(await entries(request.id, 'request.approved')).toEqual([]);
    // No outcome yet, so no request.<outcome> entry (a 'request.pending' would record a change that did not happen).
    await k.audit.sync();
    const kinds: string[] = [];
    for await (const e of readEntries(k.database.db, { requestId: request.id })) kinds.push(e.kind);
    expect(kinds).toEqual(['request.received', 'policy.decided', 'approval.decided']);
  });
});

describe('one decision per approver', () => {
  it('refuses the same approver twice when the quorum needs two', async () => {
    const request = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    const first = await k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'));
    expect(first.state).toBe('pending');
    await expect(k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'))).rejects.toMatchObject({
      code: 'evidence_refused',
      message: expect.stringContaining('has already decided'),
    });
    expect(await stateOf(request.id)).toBe('pending');
  });
});

describe('passkey counter compare-and-swap, through decide', () => {
  it('of two decisions signed with the same counter value (a cloned passkey), racing, exactly one counts', async () => {
    let casRefusals = 0;
    for (let round = 0; round < 3; round++) {
      const [a, b] = [await pendingWrite(), await pendingWrite()];
      const before = owner.authenticator.counter;
      // Two assertions carrying the same counter: what a cloned authenticator, or a replay, presents.
      const first = k.evidence(owner, a.digest, 'approve');
      const second = k.evidence(owner, b.digest, 'approve', { counterIncrement: 0 });
      expect(owner.authenticator.counter).toBe(before + 1);
      const outcomes = await Promise.allSettled([k.decide(a.id, 'approve', first), k.decide(b.id, 'approve', second)]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'evidence_refused' });
      const losers = outcomes.flatMap((o) => (o.status === 'rejected' ? [String((o.reason as Error).message)] : []));
      casRefusals += losers.filter((m) => m.includes('counter moved concurrently')).length;
      const [row] = await k.database.db.select().from(schema.passkeys).where(eq(schema.passkeys.id, owner.authenticator.credentialId));
      expect(row.counter).toBe(before + 1);
      expect([await stateOf(a.id), await stateOf(b.id)].filter((s) => s === 'pending')).toHaveLength(1);
    }
    // Both decisions read the stored counter before either wrote it (the race the compare-and-swap exists for).
    expect(casRefusals).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a replay of an assertion once its counter is stored', async () => {
    const [a, b] = [await pendingWrite(), await pendingWrite()];
    const evidence = k.evidence(owner, a.digest, 'approve');
    await k.decide(a.id, 'approve', evidence);
    await expect(k.decide(a.id, 'approve', evidence)).rejects.toMatchObject({ code: 'not_pending' });
    await expect(k.decide(b.id, 'approve', evidence)).rejects.toMatchObject({ code: 'evidence_refused' });
    expect(await stateOf(b.id)).toBe('pending');
  });
});

const inboxOf = async (approver: FixtureApprover) =>
  (await k.admin.send<RequestView[] & JsonObject[]>('kernel', { op: 'approval.inbox', approverId: approver.id })).map((r) => r.id);

const challengeFor = (approver: FixtureApprover, requestId: string, decision: 'approve' | 'reject', reason?: string) =>
  k.admin.send<JsonObject>('kernel', { op: 'approval.challenge', requestId, decision, approverId: approver.id, ...(reason ? { reason } : {}) });

describe('the passkey counter store (passkey.touch)', () => {
  it('moves the counter only from the value it holds, never for a removed passkey, and refuses bad counters', async () => {
    const jo = await k.enroll('jo@example.com');
    const id = jo.authenticator.credentialId;
    const touch = (oldCounter: number, newCounter: number) => k.admin.send('kernel', { op: 'passkey.touch', credentialId: id, oldCounter, newCounter });
    await expect(touch(5, 6)).resolves.toBe(false); // it holds 0
    await expect(touch(0, 3)).resolves.toBe(true);
    await expect(touch(0, 4)).resolves.toBe(false);
    for (const [a, b] of [[-1, 1], [3, 1.5], [3, Number.MAX_SAFE_INTEGER + 1]]) {
      await expect(touch(a!, b!)).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/(old|new)Counter must be a non-negative integer/) });
    }
    await k.admin.send('kernel', { op: 'passkey.remove', credentialId: id, approverId: jo.id });
    await expect(touch(3, 4)).resolves.toBe(false);
  });
});

describe('the inbox', () => {
  it('lists a pending request to those who may decide it, until they have', async () => {
    const write = await pendingWrite();
    const pair = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    expect(await inboxOf(owner)).toContain(write.id);
    expect(await inboxOf(owner)).not.toContain(pair.id);
    expect(await inboxOf(mallory)).not.toContain(write.id);
    expect(await inboxOf(finance)).toContain(pair.id);
    expect(await inboxOf(finance)).not.toContain(write.id);
    await k.decide(pair.id, 'approve', k.evidence(finance, pair.digest, 'approve'));
    expect(await stateOf(pair.id)).toBe('pending'); // one of two
    expect(await inboxOf(finance)).not.toContain(pair.id);
    await k.decide(write.id, 'reject', k.evidence(owner, write.digest, 'reject'));
    expect(await inboxOf(owner)).not.toContain(write.id);
  });

  it("keeps a request of a quorum of two in the second approver's inbox after the first has decided, and the second completes it", async () => {
    const second = await k.enroll('fin2@example.com', ['finance']);
    const pair = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    await k.decide(pair.id, 'approve', k.evidence(finance, pair.digest, 'approve'));
    expect(await inboxOf(finance)).not.toContain(pair.id);
    expect(await inboxOf(second)).toContain(pair.id);
    expect(['approved', 'executing', 'succeeded']).toContain((await k.decide(pair.id, 'approve', k.evidence(second, pair.digest, 'approve'))).state);
    expect(await inboxOf(second)).not.toContain(pair.id);
  });

  it('refuses an unknown approver', async () => {
    await expect(k.admin.send('kernel', { op: 'approval.inbox', approverId: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
      code: 'not_an_approver',
      message: 'no approver 00000000-0000-4000-8000-000000000000',
    });
  });
});

describe('the challenge', () => {
  it('derives from the digest, the decision and the reason, for the approver\'s own passkeys', async () => {
    const request = await pendingWrite();
    expect(await challengeFor(owner, request.id, 'approve')).toEqual({
      challenge: approvalChallenge(request.digest, 'approve'),
      digest: request.digest,
      rpId: 'localhost',
      allowCredentials: [owner.authenticator.credentialId],
      userVerification: 'required',
      timeoutMs: 120_000,
    });
    const withReason = await challengeFor(owner, request.id, 'reject', 'wrong customer');
    expect(withReason.challenge).toBe(approvalChallenge(request.digest, 'reject', 'wrong customer'));
    expect(withReason.challenge).not.toBe(approvalChallenge(request.digest, 'reject'));
  });

  it('is refused to someone who may not decide, naming the role needed, and for a request no longer pending', async () => {
    const request = await k.submit(agentId, 'test_delete_all', { confirm: 'yes' });
    await expect(challengeFor(owner, request.id, 'approve')).rejects.toMatchObject({ code: 'not_an_approver', message: expect.stringContaining('it needs finance') });
    await expect(k.admin.send('kernel', { op: 'approval.challenge', requestId: request.id, decision: 'approve', approverId: '00000000-0000-4000-8000-000000000000' }))
      .rejects.toMatchObject({ code: 'not_an_approver' });
    await expect(challengeFor(finance, request.id, 'approve')).resolves.toMatchObject({ digest: request.digest });
    await k.decide(request.id, 'reject', k.evidence(finance, request.digest, 'reject'));
    await expect(challengeFor(finance, request.id, 'approve')).rejects.toMatchObject({ code: 'not_pending', message: expect.stringContaining('is rejected') });
  });
});

describe('a decision with its reason', () => {
  it('counts only with evidence signed over that reason, and keeps the reason', async () => {
    const request = await pendingWrite();
    const send = (reason: string | null, evidence: JsonObject) =>
      k.admin.send<RequestView & JsonObject>('kernel', { op: 'approval.decide', requestId: request.id, decision: 'reject', reason, evidence: { kind: 'webauthn', response: evidence } });
    const signed = k.evidence(owner, request.digest, 'reject', undefined, 'wrong customer');
    await expect(send('right customer', signed)).rejects.toMatchObject({ code: 'evidence_refused', message: expect.stringContaining('another reason') });
    const decided = await send('wrong customer', k.evidence(owner, request.digest, 'reject', undefined, 'wrong customer'));
    expect(decided.state).toBe('rejected');
    expect(decided.approvals).toMatchObject([{ approverEmail: owner.email, decision: 'reject', reason: 'wrong customer', evidenceKind: 'webauthn' }]);
  });
});

describe('expiry', () => {
  it('expires a pending request past its time: a late decision is refused and audited, and the request is expired', async () => {
    const request = await k.submit(agentId, 'test_write_note', { key: `expiring-${++notes}`, text: 'late' });
    expect(request.state).toBe('pending');
    const evidence = k.evidence(owner, request.digest, 'approve');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, new Date(request.body.expiresAt).getTime() - Date.now()) + 50));
    await expect(k.decide(request.id, 'approve', evidence)).rejects.toMatchObject({ code: 'not_pending', message: expect.stringContaining('is expired') });
    expect(await stateOf(request.id)).toBe('expired');
    expect(await refusals(request.id)).toEqual(['not_pending']);
    expect(k.connector.executions.filter((e) => e.requestId === request.id)).toEqual([]);
  });
});

/**
 * A replica that crashed after consuming the grant (before or after the upstream call) and before recording the outcome: the row still
 * says `executing` under a lease that has lapsed. Recovery asks the connector, which cannot tell (the test write tool
 * cannot look upstream), so the request waits, `unknown`, for a human.
 */
async function crashed(upstream: 'wrote' | 'did not write'): Promise<RequestView> {
  const request = await pendingWrite();
  const grant = await mintGrant(k.keys, { requestId: request.id, digest: request.digest, tool: request.body.tool });
  await recordGrant(k.database.db, { jti: grant.jti, requestId: request.id, digest: request.digest, expiresAt: grant.expiresAt });
  if (upstream === 'wrote') {
    const executor = k.port(`test.crashed-${request.id}`, CAPABILITIES.kernel);
    await executor.send('connector.test', { op: 'execute', body: request.body as unknown as JsonObject, digest: request.digest, grant: grant.jwt });
  } else {
    await k.host.send('kernel', { op: 'grant.consume', jti: grant.jti, digest: request.digest }); // and died before the call
  }
  const lapsed = { state: 'executing', leaseOwner: 'replica-that-died', leaseUntil: new Date(Date.now() - 60_000), attempt: 1 };
  await k.database.db.update(schema.requests).set(lapsed).where(eq(schema.requests.id, request.id));
  await k.kernel.recover();
  const after = await k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.get', requestId: request.id });
  expect(after).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown' } });
  return after;
}

const resolve = (approver: FixtureApprover, request: { id: string; digest: string }, decision: 'mark_done' | 'run_again', reason: string | null = null) => {
  const response = approver.authenticator.assert({ challenge: approvalChallenge(request.digest, decision, reason), rpId: 'localhost' }) as unknown as JsonObject;
  return k.admin.send<RequestView & JsonObject>('kernel', { op: 'approval.decide', requestId: request.id, decision, reason, evidence: { kind: 'webauthn', response } });
};

describe('an outcome nobody can tell: Mark as done and Run again', () => {
  it("Mark as done: only the owner (or an approver of the request) may say it ran; it succeeds with the human's word", async () => {
    const request = await crashed('wrote');
    const ran = () => k.connector.executions.filter((e) => e.requestId === request.id).length;
    expect(await inboxOf(owner)).toContain(request.id);
    expect(await inboxOf(mallory)).not.toContain(request.id);
    await expect(resolve(mallory, request, 'mark_done')).rejects.toMatchObject({ code: 'not_an_approver', message: expect.stringContaining('mallory@example.com may not decide') });
    await expect(k.decide(request.id, 'approve', k.evidence(owner, request.digest, 'approve'))).rejects.toMatchObject({ code: 'not_pending' });
    const done = await resolve(owner, request, 'mark_done', 'saw it in the notes');
    expect(done.state).toBe('succeeded');
    expect(done.result).toEqual({
      data: { status: 'marked_done', by: owner.email, reason: 'saw it in the notes' },
      text: `${owner.email} checked upstream and marked this as done: saw it in the notes`,
    });
    expect(ran()).toBe(1);
    await expect(resolve(owner, request, 'mark_done')).rejects.toMatchObject({ code: 'not_pending', message: expect.stringContaining('is succeeded') });
    expect(await inboxOf(owner)).not.toContain(request.id);
  });

  it('Run again: the request executes once more, under a new grant, and a pending request cannot be resolved', async () => {
    const request = await crashed('did not write');
    const pending = await pendingWrite();
    await expect(resolve(owner, pending, 'run_again')).rejects.toMatchObject({ code: 'not_pending', message: expect.stringContaining('is pending') });
    const again = await resolve(owner, request, 'run_again');
    expect(['executing', 'succeeded']).toContain(again.state);
    const final = await k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId: request.id, agentId: null, waitMs: 60_000 });
    expect(final.state).toBe('succeeded');
    const [execution] = k.connector.executions.filter((e) => e.requestId === request.id);
    expect(k.connector.executions.filter((e) => e.requestId === request.id)).toHaveLength(1);
    // The marker it leaves upstream for a later reconcile: signed by the kernel over this request's id, so no other
    // request (and no agent writing text upstream) has it.
    expect(execution!.marker).toMatch(/^cs1-[A-Za-z0-9_-]{32}$/);
    expect(k.connector.executions.filter((e) => e.requestId !== request.id && e.marker === execution!.marker)).toEqual([]);
  });
});

describe('who may see a request (request.view) and which roles an approver holds', () => {
  const view = (approver: { id: string }, requestId: string) => k.admin.send<RequestView & JsonObject>('kernel', { op: 'request.view', requestId, approverId: approver.id });
  const roles = async (email: string) => (await k.admin.send<JsonObject>('kernel', { op: 'approver.get', email, approverId: null })).effectiveRoles;

  it("shows a request to the agent's owner, its approvers, those who decided it and auditors; to anyone else it does not exist", async () => {
    const write = await pendingWrite();
    const deletion = await k.submit(agentId, 'test_delete_all', { confirm: 'yes' });
    const auditor = await k.enroll('audrey@example.com', ['auditor']);
    const hidden = { code: 'unknown_request', message: expect.stringContaining('that you may see') };
    await expect(view(owner, write.id)).resolves.toMatchObject({ id: write.id });
    await expect(view(owner, deletion.id)).resolves.toMatchObject({ id: deletion.id }); // the owner, though not its approver
    await expect(view(mallory, write.id)).rejects.toMatchObject(hidden);
    await expect(view(finance, write.id)).rejects.toMatchObject(hidden);
    await expect(view(finance, deletion.id)).resolves.toMatchObject({ id: deletion.id });
    await expect(view(auditor, write.id)).resolves.toMatchObject({ id: write.id });
    await expect(view({ id: '00000000-0000-4000-8000-000000000000' }, write.id)).rejects.toMatchObject(hidden);
    // Someone who decided keeps seeing it after losing the role they decided with.
    const temp = await k.enroll('temp@example.com', ['finance']);
    const pair = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    await k.decide(pair.id, 'approve', k.evidence(temp, pair.digest, 'approve'));
    await k.admin.send('kernel', { op: 'approver.roles', email: temp.email, grant: [], revoke: ['finance'] });
    await expect(view(temp, pair.id)).resolves.toMatchObject({ id: pair.id });
    await expect(view(temp, deletion.id)).rejects.toMatchObject(hidden);
  });

  it('holds roles from config and from the directory, each once', async () => {
    expect(await roles(finance.email)).toEqual(['finance']);
    expect(await roles(owner.email)).toEqual([]);
    await k.admin.send('kernel', { op: 'approver.roles', email: finance.email, grant: ['finance', 'auditor'], revoke: [] });
    expect([...((await roles(finance.email)) as string[])].sort()).toEqual(['auditor', 'finance']);
    await k.admin.send('kernel', { op: 'approver.roles', email: finance.email, grant: [], revoke: ['finance', 'auditor'] });
  });
});

describe('a decision signed by a paired device, and decisions that race', () => {
  /** Pairs a Passport key with `approver`; its decisions are signed over the approval bytes (no device id inside). */
  async function paired(approver: FixtureApprover) {
    const key = await createPassportKey();
    const device = await k.admin.send<JsonObject>('kernel', { op: 'device.add', approverId: approver.id, name: 'Passport', publicJwk: key.publicJwk as JsonObject });
    const decide = async (request: { id: string; digest: string }, decision: 'approve' | 'reject' | 'mark_done') => {
      const evidence = { kind: 'device', deviceId: device.id as string, jws: await key.sign(request.digest, decision, 'bytes') };
      return k.admin.send<RequestView & JsonObject>('kernel', { op: 'approval.decide', requestId: request.id, decision, reason: null, evidence });
    };
    return { deviceId: device.id as string, decide };
  }
  const decideWith = (requestId: string, evidence: JsonObject) => k.admin.send('kernel', { op: 'approval.decide', requestId, decision: 'approve', reason: null, evidence });
  async function audited(requestId: string, kind: string) {
    const found: JsonObject[] = [];
    await k.audit.sync();
    for await (const e of readEntries(k.database.db, { requestId, kind })) found.push(e.data as JsonObject);
    return found;
  }

  it("counts as its approver's decision, audited with the device, and is refused from a device or passkey not enrolled", async () => {
    const device = await paired(owner);
    const request = await pendingWrite();
    expect(['approved', 'executing', 'succeeded']).toContain((await device.decide(request, 'approve')).state);
    expect(await audited(request.id, 'approval.decided')).toEqual([expect.objectContaining({ approver: owner.email, evidenceKind: 'device', keyId: device.deviceId })]);
    const other = await pendingWrite();
    await expect(decideWith(other.id, { kind: 'device', deviceId: 'dev_nope', jws: 'x.y.z' })).rejects.toMatchObject({
      code: 'evidence_refused',
      message: 'device dev_nope is not paired (or was removed); pair it again',
    });
    await expect(decideWith(other.id, { kind: 'device', deviceId: 42, jws: 'x.y.z' })).rejects.toMatchObject({ code: 'evidence_refused', message: expect.stringMatching(/^device 42 is not paired/) });
    const unknownKey = { ...k.evidence(owner, other.digest, 'approve'), id: 'cred_nope', rawId: 'cred_nope' };
    await expect(decideWith(other.id, { kind: 'webauthn', response: unknownKey })).rejects.toMatchObject({
      code: 'evidence_refused',
      message: 'the passkey used is not enrolled (or was removed); enroll it first',
    });
  });

  it('of two approvers rejecting at once, one decides and the other finds the request decided', async () => {
    const request = await pendingWrite();
    const device = await paired(owner);
    const [a, b] = await Promise.allSettled([k.decide(request.id, 'reject', k.evidence(owner, request.digest, 'reject')), device.decide(request, 'reject')]);
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
    expect(((a.status === 'rejected' ? a : b) as PromiseRejectedResult).reason).toMatchObject({ code: 'not_pending' });
    expect(await audited(request.id, 'request.rejected')).toHaveLength(1);
  });

  it('of two approvers deciding at once, the second finds under the row lock that the first decided it meanwhile', async () => {
    const other = await k.enroll('fin3@example.com', ['finance']);
    const request = await k.submit(agentId, 'test_delete_all', { confirm: 'yes' });
    // Both read the request as pending before either transaction (PGlite runs statements in order), so the one that
    // locks it second (either: their signatures verify at their own pace) is refused by the check under the row lock.
    const [a, b] = await Promise.allSettled([
      k.decide(request.id, 'reject', k.evidence(finance, request.digest, 'reject')),
      k.decide(request.id, 'reject', k.evidence(other, request.digest, 'reject')),
    ]);
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
    const loser = (a.status === 'rejected' ? a : b) as PromiseRejectedResult;
    expect(loser.reason).toMatchObject({ code: 'not_pending', message: `request ${request.id} was decided meanwhile; it is rejected` });
  });

  it('of one approver deciding twice at once with two keys, one counts', async () => {
    const second = await k.enroll('fin2@example.com', ['finance']);
    const device = await paired(second);
    const request = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    const [a, b] = await Promise.allSettled([k.decide(request.id, 'approve', k.evidence(second, request.digest, 'approve')), device.decide(request, 'approve')]);
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
    expect(((a.status === 'rejected' ? a : b) as PromiseRejectedResult).reason).toMatchObject({ code: 'evidence_refused', message: expect.stringContaining('has already decided') });
    expect(await audited(request.id, 'approval.decided')).toHaveLength(1);
    expect(await stateOf(request.id)).toBe('pending');
  });
});

describe('resolving an unknown outcome: who, when, and what is recorded', () => {
  async function audited(requestId: string, kind: string) {
    const found: JsonObject[] = [];
    await k.audit.sync();
    for await (const e of readEntries(k.database.db, { requestId, kind })) found.push(e.data as JsonObject);
    return found;
  }

  /** A deletion (finance approves it) that ran, and whose outcome nobody could tell. */
  async function unknownDeletion(): Promise<RequestView> {
    const request = await k.submit(agentId, 'test_delete_all', { confirm: 'yes' });
    await k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'));
    await k.admin.send('kernel', { op: 'request.await', requestId: request.id, agentId: null, waitMs: 60_000 });
    await k.database.db.update(schema.requests).set({ state: 'unknown', error: { code: 'outcome_unknown', message: 'cannot tell' } }).where(eq(schema.requests.id, request.id));
    return request;
  }

  it('resolves only an unknown outcome that waits for a human, saying exactly why not otherwise', async () => {
    const notWaiting = (id: string, state: string) => ({ code: 'not_pending', message: `request ${id} is ${state}, not waiting for someone to say whether it ran` });
    const pending = await pendingWrite();
    await expect(resolve(owner, pending, 'mark_done')).rejects.toMatchObject(notWaiting(pending.id, 'pending'));
    // Unknown for another reason than a reconcile that could not tell, and failed with that code: neither waits.
    const other = await crashed('wrote');
    await k.database.db.update(schema.requests).set({ error: { code: 'upstream_unknown', message: 'x' } }).where(eq(schema.requests.id, other.id));
    await expect(resolve(owner, other, 'mark_done')).rejects.toMatchObject(notWaiting(other.id, 'unknown'));
    const failed = await crashed('wrote');
    await k.database.db.update(schema.requests).set({ state: 'failed' }).where(eq(schema.requests.id, failed.id));
    await expect(resolve(owner, failed, 'run_again')).rejects.toMatchObject(notWaiting(failed.id, 'failed'));
    expect(await inboxOf(owner)).not.toContain(other.id);
    expect(await inboxOf(owner)).not.toContain(failed.id);
  });

  it("lets the agent's owner and the request's approvers resolve it, and names the owner when nobody else may", async () => {
    // A deletion needs finance: both finance and the agent's owner (who is not in finance) may resolve its outcome.
    for (const who of [finance, owner]) {
      const request = await unknownDeletion();
      expect((await resolve(who, request, 'mark_done')).state, who.email).toBe('succeeded');
    }
    // With no approvers on record (a request that ran without approval), only the owner may.
    const request = await crashed('wrote');
    await k.database.db.update(schema.requests).set({ verdict: { ...request.verdict, approvers: undefined } }).where(eq(schema.requests.id, request.id));
    await expect(resolve(mallory, request, 'mark_done')).rejects.toMatchObject({ code: 'not_an_approver', message: "mallory@example.com may not decide this request: it needs the agent's owner" });
    expect((await resolve(owner, request, 'mark_done')).state).toBe('succeeded');
  });

  it('records the resolution and the outcome it gives; Mark as done without a reason says so plainly', async () => {
    const done = await crashed('wrote');
    const after = await resolve(owner, done, 'mark_done');
    expect(after.result).toEqual({ data: { status: 'marked_done', by: owner.email, reason: null }, text: `${owner.email} checked upstream and marked this as done` });
    expect(await audited(done.id, 'execution.resolved')).toEqual([expect.objectContaining({ decision: 'mark_done', approver: owner.email, digest: done.digest })]);
    expect(await audited(done.id, 'execution.succeeded')).toEqual([after.result]);
    const again = await crashed('did not write');
    await resolve(owner, again, 'run_again');
    await k.admin.send('kernel', { op: 'request.await', requestId: again.id, agentId: null, waitMs: 60_000 });
    expect(await audited(again.id, 'execution.resolved')).toEqual([expect.objectContaining({ decision: 'run_again', approver: owner.email })]);
    // The claim that runs it again is recorded with the resolution: a new grant for the same digest.
    expect(await audited(again.id, 'grant.minted')).toHaveLength(1);
  });

  it('of two people resolving at once, one counts and the other finds it resolved meanwhile', async () => {
    const request = await unknownDeletion();
    const outcomes = await Promise.allSettled([resolve(owner, request, 'mark_done'), resolve(finance, request, 'mark_done')]);
    const losers = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as { code: string; message: string });
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.code).toBe('not_pending');
    // Both read it as waiting before either transaction (PGlite runs statements in order): the lock's check refuses.
    expect(losers[0]!.message).toBe(`request ${request.id} was resolved meanwhile; it is succeeded`);
    expect(await audited(request.id, 'execution.resolved')).toHaveLength(1);
  });
});

describe('what a counted decision leaves behind', () => {
  it('keeps the passkey counter where it was when the same approver is refused a second decision', async () => {
    const request = await k.submit(agentId, 'test_read_note', { key: 'welcome' });
    await k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'));
    const counter = async () => (await k.database.db.select().from(schema.passkeys).where(eq(schema.passkeys.approverId, finance.id)))[0]!.counter;
    const before = await counter();
    await expect(k.decide(request.id, 'approve', k.evidence(finance, request.digest, 'approve'))).rejects.toMatchObject({ code: 'evidence_refused' });
    expect(await counter()).toBe(before);
  });

  it('records when a request expired', async () => {
    const request = await k.submit(agentId, 'test_write_note', { key: `expiring-${++notes}`, text: 'late' });
    await new Promise((r) => setTimeout(r, Math.max(0, new Date(request.body.expiresAt).getTime() - Date.now()) + 50));
    await expect(k.decide(request.id, 'approve', k.evidence(owner, request.digest, 'approve'))).rejects.toMatchObject({ code: 'not_pending' });
    await k.audit.sync();
    const expired: JsonObject[] = [];
    for await (const e of readEntries(k.database.db, { requestId: request.id, kind: 'request.expired' })) expired.push(e.data as JsonObject);
    expect(expired).toEqual([{ at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) }]);
    expect(new Date(expired[0]!.at as string).getTime()).toBeGreaterThanOrEqual(new Date(request.body.expiresAt).getTime());
  });
});
