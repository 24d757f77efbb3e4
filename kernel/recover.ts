import { and, count, eq, inArray, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import { grants, requests } from './store/schema.ts';
import { asKernelError } from './errors.ts';
import type { ReconcileReply } from './connector.ts';
import type { JsonObject } from './types.ts';
import type { KernelContext } from './context.ts';
import { storable, type AuditInput } from './audit/entry.ts';
import { requestMarker } from './grants.ts';
import { claimIn, execute, holds, leaseEnd, outcomeUnknown, run } from './flow.ts';

/**
 * Crash recovery, at start and periodically on every replica. It touches only requests whose lease lapsed (their owner
 * died or lost the database; a live owner keeps renewing), and approvals no replica picked up. An outcome is settled
 * only with proof; what nobody can tell waits, `unknown`, for a human (Mark as done or Run again).
 */
export async function recover(ctx: KernelContext): Promise<number> {
  const lapsed = and(inArray(requests.state, ['executing', 'unknown']), lt(requests.leaseUntil, sql`now()`));
  const orphaned = and(eq(requests.state, 'approved'), lt(requests.updatedAt, sql`now() - make_interval(secs => ${ctx.leaseMs / 1000})`));
  const due = await ctx.db.select({ id: requests.id, state: requests.state, tool: requests.tool }).from(requests).where(sql`${lapsed} or ${orphaned}`).limit(100);
  // Only what a connector here can finish: a process without it (a CLI command, a replica serving other tools) leaves
  // it to one that has it, instead of failing an approved request or marking a lapsed one unknown it cannot settle.
  for (const { id, state } of due.filter((r) => ctx.connectorFor(r.tool))) {
    if (state === 'approved') await execute(ctx, id).catch(() => {});
    else await reconcile(ctx, id).catch(() => {});
  }
  return due.length;
}

async function reconcile(ctx: KernelContext, id: string): Promise<void> {
  // Taking the lapsed lease is a compare-and-swap, so one replica reconciles. In the same transaction every grant not
  // yet used is voided: from here on no earlier attempt can reach upstream, and if none was ever used, none did.
  const taken = await ctx.db.transaction(async (tx) => {
    const before = await ctx.store.row(id, tx);
    const lease = { leaseOwner: ctx.replicaId, leaseUntil: leaseEnd(ctx) };
    const row = await ctx.store.transition(tx, id, ['executing', 'unknown'], 'unknown', lease, lt(requests.leaseUntil, sql`now()`));
    if (!row) return null;
    await tx.update(grants).set({ expiresAt: new Date(0) }).where(and(eq(grants.requestId, id), isNull(grants.consumedAt)));
    // count() with no GROUP BY returns exactly one row.
    const [used] = await tx.select({ n: count() }).from(grants).where(and(eq(grants.requestId, id), isNotNull(grants.consumedAt)));
    const data = { reason: 'its lease lapsed', previousOwner: before.leaseOwner, attempt: before.attempt, grantsUsed: used!.n };
    if (before.state === 'executing') await ctx.audit.append([{ kind: 'execution.unknown', requestId: id, actor: 'kernel', data }], tx);
    return { row, used: used!.n > 0 };
  });
  if (!taken) return;
  const { row } = taken;
  const connector = ctx.connectorFor(row.tool);
  if (!connector) return; // the lease lapses again; a replica serving this tool will take it
  let reply: ReconcileReply;
  try {
    reply = storable(taken.used
      ? await ctx.port.send<ReconcileReply & JsonObject>(connector, { op: 'reconcile', body: row.body as unknown as JsonObject, marker: await requestMarker(ctx.keys, id) })
      : { answer: 'not_happened', proof: 'no grant for it was ever used, and the unused ones are void' });
  } catch (error) {
    // Left leased: it lapses and is tried again.
    await ctx.audit.append([{ kind: 'execution.reconcile_failed', requestId: id, actor: 'kernel', data: storable(asKernelError(error).toJSON()) }]);
    return;
  }
  const reconciled: AuditInput = { kind: 'execution.reconciled', requestId: id, actor: 'kernel', data: reply as unknown as JsonObject };
  const claim = await ctx.db.transaction(async (tx) => {
    if (reply.answer === 'not_happened') {
      const claimed = await claimIn(ctx, tx, row, ['unknown'], holds(ctx, row));
      if (claimed) await ctx.audit.append([reconciled, ...claimed.entries], tx);
      return claimed?.claim ?? null;
    }
    const done = reply.answer === 'happened' ? reply.result : null;
    const patch = done ? { result: done, leaseUntil: null } : { error: reply.answer === 'cannot_tell' ? outcomeUnknown(reply.why, reply.check) : null, leaseUntil: null };
    if (await ctx.store.transition(tx, id, ['unknown'], done ? 'succeeded' : 'unknown', patch, holds(ctx, row))) {
      const after: AuditInput[] = done ? [{ kind: 'execution.succeeded', requestId: id, actor: 'kernel', data: done as unknown as JsonObject }] : [];
      await ctx.audit.append([reconciled, ...after], tx);
    }
    return null;
  });
  if (claim) await run(ctx, claim, true);
  ctx.wake(id);
}
