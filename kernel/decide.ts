import { and, eq, isNull, lt } from 'drizzle-orm';
import { decisions, requests } from './store/schema.ts';
import { KernelError, asKernelError } from './errors.ts';
import type { Db } from './store/db.ts';
import type { EvidenceInput } from './messages.ts';
import type { ApprovalDecision, JsonObject, Principal, RequestRecord, ToolResult } from './types.ts';
import type { KernelContext } from './context.ts';
import { claimIn, move, type Claim } from './flow.ts';
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
  const unknown = await ctx.store.list({ agentId: null, state: 'unknown', limit: 200 });
  const toResolve = unknown.filter((r) => awaitsHuman(r) && mayResolve(ctx, r, approver));
  return [...pending.filter((r) => mayDecide(r) && !r.approvals.some((a) => a.approverId === approverId)), ...toResolve];
}

const RESOLUTIONS: readonly ApprovalDecision[] = ['mark_done', 'run_again'];

/** A request whose outcome reconcile could not tell: it waits for a human to check upstream and resolve it. */
const awaitsHuman = (r: { state: string; error: RequestRecord['error'] }) => r.state === 'unknown' && r.error?.code === 'outcome_unknown';

/** Who may resolve an unknown outcome: the agent's owner, or anyone who could approve the request. */
function mayResolve(ctx: KernelContext, r: RequestRecord, who: { email: string; roles: readonly string[] }): boolean {
  const roles = ctx.roles();
  return isEligible({ role: 'owner', count: 1 }, who, r.body.principal, roles) || (!!r.verdict.approvers && isEligible(r.verdict.approvers, who, r.body.principal, roles));
}

export async function challenge(ctx: KernelContext, requestId: string, decision: ApprovalDecision, approverId: string, reason: string | null = null) {
  const record = await decidable(ctx, requestId, decision);
  const approver = await ctx.directory.getApprover({ approverId });
  const may = (a: NonNullable<typeof approver>) => (RESOLUTIONS.includes(decision) ? mayResolve(ctx, record, a) : isEligible(record.verdict.approvers!, a, record.body.principal, ctx.roles()));
  if (!approver || !may(approver)) throw new KernelError('not_an_approver', `you are not an approver for this request (it needs ${record.verdict.approvers!.role})`);
  return {
    challenge: approvalChallenge(record.digest, decision, reason),
    digest: record.digest,
    rpId: ctx.rpId,
    allowCredentials: approver.passkeys.map((p) => p.id),
    userVerification: 'required',
    timeoutMs: 120_000,
  };
}

/** The request, if `decision` applies to it now: approve/reject a pending one, mark_done/run_again an unknown outcome. */
async function decidable(ctx: KernelContext, requestId: string, decision: ApprovalDecision): Promise<RequestRecord> {
  if (!RESOLUTIONS.includes(decision)) return pendingRecord(ctx, requestId);
  const record = await ctx.store.get(requestId);
  if (!awaitsHuman(record)) throw new KernelError('not_pending', `request ${requestId} is ${record.state}, not waiting for someone to say whether it ran`);
  return record;
}

async function pendingRecord(ctx: KernelContext, requestId: string): Promise<RequestRecord> {
  await expireDue(ctx);
  const record = await ctx.store.get(requestId);
  if (record.state !== 'pending' || !record.verdict.approvers) throw new KernelError('not_pending', `request ${requestId} is ${record.state}, not waiting for approval`);
  return record;
}

/** Verifies the evidence against this request's digest and decision and resolves who signed it. */
async function signer(ctx: KernelContext, record: RequestRecord, decision: ApprovalDecision, reason: string | null, evidence: EvidenceInput): Promise<Signer> {
  if (evidence.kind === 'webauthn') {
    const credentialId = typeof evidence.response.id === 'string' ? evidence.response.id : '';
    const key = await ctx.directory.lookupPasskey(credentialId);
    if (!key) throw new KernelError('evidence_refused', 'the passkey used is not enrolled (or was removed); enroll it first');
    const { newCounter, receipt } = await verifyPasskeyEvidence({
      response: evidence.response,
      digest: record.digest,
      decision,
      reason,
      credential: { id: key.id, publicKey: key.publicKey, counter: key.counter },
      expectedOrigin: new URL(ctx.publicUrl).origin,
      expectedRPID: ctx.rpId,
    });
    const commit = () => updatePasskeyCounter(ctx.db, key.id, key.counter, newCounter);
    return { approverId: key.approverId, email: key.email, roles: key.roles, keyId: key.id, kind: 'webauthn', receipt: receipt as unknown as JsonObject, commit };
  }
  const device = typeof evidence.deviceId === 'string' ? await ctx.directory.lookupDevice(evidence.deviceId) : null;
  if (!device) throw new KernelError('evidence_refused', `device ${String(evidence.deviceId)} is not paired (or was removed); pair it again`);
  const { receipt } = await verifyDeviceEvidence({ jws: evidence.jws, digest: record.digest, decision, reason, publicJwk: device.publicJwk, deviceId: device.id });
  const stored = receipt as unknown as JsonObject;
  return { approverId: device.approverId, email: device.email, roles: device.roles, keyId: device.id, kind: 'device', receipt: stored, commit: async () => true };
}

/**
 * Counts a decision only after its evidence verifies over this request's digest and decision, from an approver of
 * the required role. Decisions on one request serialize on its row (locked before the tally), so concurrent approvals
 * release it once and a rejection racing an approval yields one outcome. Returns the request after the decision, and
 * the execution to start: the claim of a request approved now (`approved`) or of one a human said to run again.
 */
export async function decide(ctx: KernelContext, requestId: string, decision: ApprovalDecision, reason: string | null, evidence: EvidenceInput) {
  const resolving = RESOLUTIONS.includes(decision);
  let outcome: { approved: boolean; claim: Claim | null };
  try {
    // Inside the audited block: a decision sent to a decided or expired request (a late replay) is recorded too.
    const record = await decidable(ctx, requestId, decision);
    const who = await signer(ctx, record, decision, reason, evidence);
    const eligible = resolving ? mayResolve(ctx, record, who) : isEligible(record.verdict.approvers!, who, record.body.principal as Principal, ctx.roles());
    if (!eligible) throw new KernelError('not_an_approver', `${who.email} may not decide this request: it needs ${record.verdict.approvers?.role ?? "the agent's owner"}`);
    if (!resolving && record.approvals.some((a) => a.approverId === who.approverId)) throw new KernelError('evidence_refused', `${who.email} has already decided this request; it needs a different approver`);
    if (!(await who.commit())) throw new KernelError('evidence_refused', 'the passkey counter moved concurrently: a replayed or cloned assertion');
    outcome = await ctx.db.transaction(async (tx) => {
      const [locked] = await tx.select().from(requests).where(eq(requests.id, requestId)).for('update');
      const data = { decision, reason, approver: who.email, evidenceKind: who.kind, keyId: who.keyId, digest: record.digest, receipt: who.receipt };
      const entry: AuditInput = { kind: resolving ? 'execution.resolved' : 'approval.decided', requestId, actor: `approver:${who.approverId}`, data };
      if (resolving) return resolveIn(ctx, tx, locked!, decision, who.email, reason, entry);
      if (locked!.state !== 'pending') throw new KernelError('not_pending', `request ${requestId} was decided meanwhile; it is ${locked!.state}`);
      const taken = await tx.select().from(decisions).where(and(eq(decisions.requestId, requestId), eq(decisions.approverId, who.approverId)));
      if (taken.length) throw new KernelError('evidence_refused', `${who.email} has already decided this request; it needs a different approver`);
      const { approverId, kind: evidenceKind, keyId, receipt } = who;
      await tx.insert(decisions).values({ requestId, approverId, decision, reason, evidenceKind, keyId, evidence: receipt }); // reason: at most 2000 characters (evidence.ts)
      const all = await tx.select().from(decisions).where(eq(decisions.requestId, requestId));
      const decided = all.map((d) => ({ approverId: d.approverId, decision: d.decision as ApprovalDecision }));
      const result = tally(record.verdict.approvers!, decided, new Date(record.body.expiresAt), ctx.now());
      const entries = [entry];
      if (result !== 'pending') {
        await ctx.store.transition(tx, requestId, ['pending'], result);
        entries.push({ kind: `request.${result}`, requestId, actor: 'kernel', data: { approvals: all.filter((d) => d.decision === 'approve').length } });
      }
      await ctx.audit.append(entries, tx);
      return { approved: result === 'approved', claim: null };
    });
  } catch (error) {
    const e = asKernelError(error);
    await ctx.audit.append([{ kind: 'approval.refused', requestId, actor: 'kernel', data: { decision, error: e.toJSON() } }]);
    throw e;
  }
  ctx.wake(requestId);
  return { record: await ctx.store.get(requestId), ...outcome };
}

/** A human checked upstream: the request either ran (Mark as done: it succeeds) or did not (Run again: claimed anew). */
async function resolveIn(ctx: KernelContext, tx: Db, row: typeof requests.$inferSelect, decision: ApprovalDecision, email: string, reason: string | null, entry: AuditInput) {
  if (!awaitsHuman(row)) throw new KernelError('not_pending', `request ${row.id} was resolved meanwhile; it is ${row.state}`);
  const waiting = isNull(requests.leaseUntil);
  if (decision === 'run_again') {
    const claimed = await claimIn(ctx, tx, row, ['unknown'], waiting);
    await ctx.audit.append([entry, ...claimed!.entries], tx);
    return { approved: false, claim: claimed!.claim };
  }
  const result: ToolResult = { data: { status: 'marked_done', by: email, reason }, text: `${email} checked upstream and marked this as done${reason ? `: ${reason}` : ''}` };
  await ctx.store.transition(tx, row.id, ['unknown'], 'succeeded', { result, error: null }, waiting);
  await ctx.audit.append([entry, { kind: 'execution.succeeded', requestId: row.id, actor: 'kernel', data: result as unknown as JsonObject }], tx);
  return { approved: false, claim: null };
}

/** Pending requests past their expiry become `expired`: a timeout is a rejection. */
export async function expireDue(ctx: KernelContext): Promise<void> {
  const now = ctx.now();
  const due = await ctx.db.select({ id: requests.id }).from(requests).where(and(eq(requests.state, 'pending'), lt(requests.expiresAt, now)));
  for (const { id } of due) {
    await move(ctx, id, 'pending', 'expired', { kind: 'request.expired', actor: 'kernel', data: { at: now.toISOString() } });
    ctx.wake(id);
  }
}
