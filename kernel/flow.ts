import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from './store/db.ts';
import { requests, spends } from './store/schema.ts';
import { KernelError, asKernelError } from './errors.ts';
import { requestDigest } from './digest.ts';
import type { DescribeReply, ExecuteReply, ReconcileReply } from './connector.ts';
import type { JsonObject, KernelErrorShape, Principal, RequestBody, RequestRecord, RequestState, Verdict } from './types.ts';
import type { KernelContext } from './context.ts';
import { createBudgetStore } from './policy/index.ts';
import type { AuditInput } from './audit/entry.ts';
import { mintGrant, recordGrant, type MintedGrant } from './grants.ts';

/** A request's path: describe, digest, policy, then (when allowed or approved) grant and execution. */

const ALLOW_TTL_SECONDS = 300;
const DEFAULT_APPROVAL_SECONDS = 3600;

/** A request claimed for execution in the transaction that allowed or approved it, with its single-use grant. */
export interface Claim {
  row: typeof requests.$inferSelect;
  grant: MintedGrant;
}

/**
 * Records a request with its verdict. An allowed request is claimed for execution in the same transaction (one
 * commit fewer on the hot path); the caller then runs it with `run`.
 */
export async function submit(ctx: KernelContext, agentId: string, tool: string, args: JsonObject): Promise<{ record: RequestRecord; claim: Claim | null }> {
  const principal = await ctx.directory.principal(agentId);
  const actor = `agent:${principal.agentId}`;
  const connector = ctx.connectorFor(tool);
  if (!connector) {
    await ctx.audit.append([{ kind: 'request.refused', requestId: null, actor, data: { tool, reason: 'unknown tool' } }]);
    throw new KernelError('unknown_tool', `unknown tool "${tool}"; call tools/list to see the tools this gateway offers`);
  }
  let described: DescribeReply;
  try {
    described = await ctx.port.send<DescribeReply & JsonObject>(connector, { op: 'describe', tool, args });
  } catch (error) {
    const e = asKernelError(error);
    await ctx.audit.append([{ kind: 'request.refused', requestId: null, actor, data: { tool, args, error: e.toJSON() } }]);
    throw e;
  }
  const policy = ctx.policy();
  const now = ctx.now();
  const input = { tool, args: described.args, intent: described.intent, agent: agentOf(principal), now };
  const budget = createBudgetStore(ctx.db);
  const first = await evaluateSafely(() => policy.evaluate(input, budget));

  const requestId = `req_${randomUUID().replaceAll('-', '')}`;
  return ctx.db.transaction(async (tx) => {
    let verdict = first;
    if (verdict.spend) {
      // Budgets are checked and spent under one lock, so two concurrent requests cannot both fit in the last slot.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('countersign.budget'))`);
      verdict = await evaluateSafely(() => policy.evaluate(input, createBudgetStore(tx)));
    }
    const ttl = verdict.decision === 'approve' ? verdict.expiresInSeconds ?? DEFAULT_APPROVAL_SECONDS : ALLOW_TTL_SECONDS;
    const expiresAt = new Date(now.getTime() + ttl * 1000);
    const nonce = randomBytes(16).toString('base64url');
    const { args, intent } = described;
    const body: RequestBody = { tool, args, pins: intent.pins, principal, policyVersion: policy.version, requestId, nonce, expiresAt: expiresAt.toISOString() };
    const digest = requestDigest(body);
    const state = verdict.decision === 'allow' ? 'allowed' : verdict.decision === 'deny' ? 'denied' : 'pending';
    const values = { id: requestId, digest, agentId: principal.agentId, tool, body, intent, verdict, state, ruleId: verdict.ruleId, expiresAt };
    const [row] = await tx.insert(requests).values({ ...values, approvers: verdict.approvers ?? null }).returning();
    if (verdict.spend && state === 'allowed') await tx.insert(spends).values({ requestId, ...verdict.spend });
    const claimed = state === 'allowed' ? await claimIn(ctx, tx, row, ['allowed']) : null;
    const [record] = await ctx.store.records([claimed?.claim.row ?? row!], tx);
    // The audit append comes last: it locks the chain's head until commit, so the locked window stays short.
    const received = { kind: 'request.received', requestId, actor, data: { digest, body, intent } as unknown as JsonObject };
    const decided = { kind: 'policy.decided', requestId, actor: 'kernel', data: verdict as unknown as JsonObject };
    await ctx.audit.append([received, decided, ...(claimed?.entries ?? [])], tx);
    return { record, claim: claimed?.claim ?? null };
  });
}

/**
 * Moves the request to `executing` (compare-and-swap) and mints and records its grant, in `tx`. Returns the audit
 * entries for the caller to append last in the same transaction.
 */
async function claimIn(ctx: KernelContext, tx: Db, row: Claim['row'], from: RequestState[]): Promise<{ claim: Claim; entries: AuditInput[] } | null> {
  const claimed = await ctx.store.transition(tx, row.id, from, 'executing');
  if (!claimed) return null;
  const grant = await mintGrant(ctx.keys, { requestId: row.id, digest: row.digest, tool: row.tool, ttlSeconds: ctx.grantTtlSeconds });
  await recordGrant(tx, { jti: grant.jti, requestId: row.id, digest: row.digest, expiresAt: grant.expiresAt });
  const entries: AuditInput[] = [
    { kind: 'grant.minted', requestId: row.id, actor: 'kernel', data: { jti: grant.jti, expiresAt: grant.expiresAt.toISOString() } },
    { kind: 'execution.started', requestId: row.id, actor: 'kernel', data: { tool: row.tool } },
  ];
  return { claim: { row: claimed, grant }, entries };
}

/** An error anywhere in policy evaluation denies: fail closed. */
async function evaluateSafely(evaluate: () => Promise<Verdict>): Promise<Verdict> {
  try {
    return await evaluate();
  } catch (error) {
    return { decision: 'deny', ruleId: null, reason: `policy evaluation failed, so the request is denied: ${asKernelError(error).message}` };
  }
}

function agentOf(principal: Principal) {
  return { id: principal.agentId, name: principal.agentName, owner: principal.owner };
}

/**
 * Claims an approved request (or one left `unknown`), mints its single-use grant and runs it. The claim is a
 * compare-and-swap, so two callers never both execute one request.
 */
export async function execute(ctx: KernelContext, requestId: string): Promise<void> {
  const claimed = await ctx.db.transaction(async (tx) => {
    const result = await claimIn(ctx, tx, await ctx.store.row(requestId, tx), ['allowed', 'approved', 'unknown']);
    if (result) await ctx.audit.append(result.entries, tx);
    return result;
  });
  if (claimed) await run(ctx, claimed.claim);
}

/** Sends a claimed request with its grant to the connector's executor and records the outcome. */
export async function run(ctx: KernelContext, { row, grant }: Claim): Promise<void> {
  const requestId = row.id;
  const connector = ctx.connectorFor(row.tool);
  try {
    if (!connector) throw new KernelError('unknown_tool', `the connector for ${row.tool} is not running`);
    const message = { op: 'execute', body: row.body as unknown as JsonObject, digest: row.digest, grant: grant.jwt };
    const result = await ctx.port.send<ExecuteReply & JsonObject>(connector, message);
    await finish(ctx, requestId, 'succeeded', { result });
  } catch (error) {
    const e = asKernelError(error);
    // An executor that cannot tell whether the upstream call happened leaves the request `unknown` for reconcile.
    await finish(ctx, requestId, e.code === 'upstream_unknown' ? 'unknown' : 'failed', { error: e.toJSON() });
  }
}

type Outcome = { result?: ExecuteReply; error?: KernelErrorShape };

async function finish(ctx: KernelContext, requestId: string, state: 'succeeded' | 'failed' | 'unknown', patch: Outcome): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await ctx.store.transition(tx, requestId, ['executing'], state, patch);
    const kind = state === 'succeeded' ? 'execution.succeeded' : state === 'failed' ? 'execution.failed' : 'execution.unknown';
    await ctx.audit.append([{ kind, requestId, actor: 'kernel', data: (patch.result ?? patch.error ?? {}) as unknown as JsonObject }], tx);
  });
  ctx.wake(requestId);
}

/** Moves a request from `from` to `to` with its audit entry, in one transaction; false, writing nothing, when it was elsewhere. */
export async function move(ctx: KernelContext, id: string, from: RequestState, to: RequestState, entry: { kind: string; actor: string; data: JsonObject }): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    if (!(await ctx.store.transition(tx, id, [from], to))) return false;
    await ctx.audit.append([{ ...entry, requestId: id }], tx);
    return true;
  });
}

/**
 * After a restart: requests left `executing` or `unknown` may or may not have reached upstream. Ask the connector;
 * if the call happened, record its result; if not, execute again (the idempotency key is derived from the request id).
 */
export async function recover(ctx: KernelContext): Promise<number> {
  const columns = { id: requests.id, tool: requests.tool, body: requests.body };
  const stuck = await ctx.db.select(columns).from(requests).where(sql`${requests.state} in ('executing', 'unknown')`);
  for (const row of stuck) {
    const connector = ctx.connectorFor(row.tool);
    if (!connector) continue;
    const reason = 'found executing at start; asking the connector whether the call happened';
    await move(ctx, row.id, 'executing', 'unknown', { kind: 'execution.unknown', actor: 'kernel', data: { reason } });
    try {
      const reply = await ctx.port.send<ReconcileReply & JsonObject>(connector, { op: 'reconcile', body: row.body as unknown as JsonObject });
      if (reply.happened) {
        await move(ctx, row.id, 'unknown', 'executing', { kind: 'execution.reconciled', actor: 'kernel', data: { happened: true } });
        await finish(ctx, row.id, 'succeeded', { result: reply.result });
      } else {
        await execute(ctx, row.id);
      }
    } catch (error) {
      await ctx.audit.append([{ kind: 'execution.reconcile_failed', requestId: row.id, actor: 'kernel', data: asKernelError(error).toJSON() }]);
    }
  }
  return stuck.length;
}
