import { and, eq, lt } from 'drizzle-orm';
import { decisions, requests } from './store/schema.ts';
import { KernelError, asKernelError } from './errors.ts';
import type { EvidenceInput } from './messages.ts';
import type { ApprovalDecision, JsonObject, Principal, RequestRecord } from './types.ts';
import type { KernelContext } from './context.ts';
import { move } from './flow.ts';
import { isEligible, tally } from './approvals.ts';
import type { AuditInput } from './audit/entry.ts';
import { approvalChallenge, updatePasskeyCounter, verifyDeviceEvidence, verifyPasskeyEvidence } from './evidence.ts';

/** Approver-facing operations: the inbox, the challenge to sign, and a decision with its evidence. */

interface Signer {
  approverId: string;
  email: string;
  roles: string[];
  keyId: string;
  kind: 'webauthn' | 'device';
  receipt: JsonObject;
  commit: () => Promise<boolean>;
}

export async function inbox(ctx: KernelContext, approverId: string): Promise<RequestRecord[]> {
  const approver = await ctx.directory.getApprover({ approverId });
  if (!approver) throw new KernelError('not_an_approver', `no approver ${approverId}`);
  const pending = await ctx.store.list({ agentId: null, state: 'pending', limit: 200 });
  const mayDecide = (r: RequestRecord) => r.verdict.approvers !== undefined && isEligible(r.verdict.approvers, approver, r.body.principal, ctx.roles());
  return pending.filter((r) => mayDecide(r) && !r.approvals.some((a) => a.approverId === approverId));
}

export async function challenge(ctx: KernelContext, requestId: string, decision: ApprovalDecision, approverId: string) {
  const record = await pendingRecord(ctx, requestId);
  const approver = await ctx.directory.getApprover({ approverId });
  if (!approver || !isEligible(record.verdict.approvers!, approver, record.body.principal, ctx.roles())) {
    throw new KernelError('not_an_approver', `you are not an approver for this request (it needs ${record.verdict.approvers!.role})`);
  }
  return {
    challenge: approvalChallenge(record.digest, decision),
    digest: record.digest,
    rpId: ctx.rpId,
    allowCredentials: approver.passkeys.map((p) => p.id),
    userVerification: 'required',
    timeoutMs: 120_000,
  };
}

async function pendingRecord(ctx: KernelContext, requestId: string): Promise<RequestRecord> {
  await expireDue(ctx);
  const record = await ctx.store.get(requestId);
  if (record.state !== 'pending' || !record.verdict.approvers) {
    throw new KernelError('not_pending', `request ${requestId} is ${record.state}, not waiting for approval`);
  }
  return record;
}

/** Verifies the evidence against this request's digest and decision and resolves who signed it. */
async function signer(ctx: KernelContext, record: RequestRecord, decision: ApprovalDecision, evidence: EvidenceInput): Promise<Signer> {
  if (evidence.kind === 'webauthn') {
    const credentialId = typeof evidence.response.id === 'string' ? evidence.response.id : '';
    const key = await ctx.directory.lookupPasskey(credentialId);
    if (!key) throw new KernelError('evidence_refused', 'the passkey used is not enrolled (or was removed); enroll it first');
    const { newCounter, receipt } = await verifyPasskeyEvidence({
      response: evidence.response,
      digest: record.digest,
      decision,
      credential: { id: key.id, publicKey: key.publicKey, counter: key.counter },
      expectedOrigin: new URL(ctx.publicUrl).origin,
      expectedRPID: ctx.rpId,
    });
    const commit = () => updatePasskeyCounter(ctx.db, key.id, key.counter, newCounter);
    return { approverId: key.approverId, email: key.email, roles: key.roles, keyId: key.id, kind: 'webauthn', receipt: receipt as unknown as JsonObject, commit };
  }
  const device = typeof evidence.deviceId === 'string' ? await ctx.directory.lookupDevice(evidence.deviceId) : null;
  if (!device) throw new KernelError('evidence_refused', `device ${String(evidence.deviceId)} is not paired (or was removed); pair it again`);
  const { receipt } = await verifyDeviceEvidence({ jws: evidence.jws, digest: record.digest, decision, publicJwk: device.publicJwk, deviceId: device.id });
  const stored = receipt as unknown as JsonObject;
  return { approverId: device.approverId, email: device.email, roles: device.roles, keyId: device.id, kind: 'device', receipt: stored, commit: async () => true };
}

/**
 * Counts a decision only after its evidence verifies over this request's digest and decision, from an approver of
 * the required role. Returns the request after the decision, and whether it is now approved (to execute).
 */
export async function decide(ctx: KernelContext, requestId: string, decision: ApprovalDecision, reason: string | null, evidence: EvidenceInput) {
  let record: RequestRecord;
  let who: Signer;
  try {
    // Inside the audited block: a decision sent to a decided or expired request (a late replay) is recorded too.
    record = await pendingRecord(ctx, requestId);
    who = await signer(ctx, record, decision, evidence);
    if (!isEligible(record.verdict.approvers!, who, record.body.principal as Principal, ctx.roles())) {
      throw new KernelError('not_an_approver', `${who.email} may not decide this request: it needs ${record.verdict.approvers!.role}`);
    }
    if (record.approvals.some((a) => a.approverId === who.approverId)) {
      throw new KernelError('evidence_refused', `${who.email} has already decided this request; it needs a different approver`);
    }
    if (!(await who.commit())) {
      throw new KernelError('evidence_refused', 'the passkey counter moved concurrently: a replayed or cloned assertion');
    }
  } catch (error) {
    const e = asKernelError(error);
    await ctx.audit.append([{ kind: 'approval.refused', requestId, actor: 'kernel', data: { decision, error: e.toJSON() } }]);
    throw e;
  }
  const requirement = record.verdict.approvers!;
  const outcome = await ctx.db.transaction(async (tx) => {
    const { approverId, kind: evidenceKind, keyId, receipt } = who;
    await tx.insert(decisions).values({ requestId, approverId, decision, reason: reason?.slice(0, 2000) ?? null, evidenceKind, keyId, evidence: receipt });
    const all = await tx.select().from(decisions).where(eq(decisions.requestId, requestId));
    const decided = all.map((d) => ({ approverId: d.approverId, decision: d.decision as ApprovalDecision }));
    const result = tally(requirement, decided, new Date(record.body.expiresAt), ctx.now());
    const data = { decision, reason, approver: who.email, evidenceKind, keyId, digest: record.digest, receipt };
    const entries: AuditInput[] = [{ kind: 'approval.decided', requestId, actor: `approver:${approverId}`, data }];
    if (result !== 'pending') {
      const moved = await ctx.store.transition(tx, requestId, ['pending'], result);
      if (!moved) throw new KernelError('not_pending', `request ${requestId} was decided concurrently`);
      entries.push({ kind: `request.${result}`, requestId, actor: 'kernel', data: { approvals: all.filter((d) => d.decision === 'approve').length } });
    }
    await ctx.audit.append(entries, tx);
    return result;
  });
  ctx.wake(requestId);
  return { record: await ctx.store.get(requestId), approved: outcome === 'approved' };
}

/** Pending requests past their expiry become `expired`: a timeout is a rejection. */
export async function expireDue(ctx: KernelContext): Promise<string[]> {
  const now = ctx.now();
  const due = await ctx.db.select({ id: requests.id }).from(requests).where(and(eq(requests.state, 'pending'), lt(requests.expiresAt, now)));
  const expired: string[] = [];
  for (const { id } of due) {
    if (await move(ctx, id, 'pending', 'expired', { kind: 'request.expired', actor: 'kernel', data: { at: now.toISOString() } })) expired.push(id);
    ctx.wake(id);
  }
  return expired;
}
