import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from './store/db.ts';
import type { Recorded } from './requests.ts';
import { agents, grants, requests, spends } from './store/schema.ts';
import { KernelError, asKernelError } from './errors.ts';
import { requestDigest } from './digest.ts';
import type { DescribeReply, ExecuteReply } from './connector.ts';
import type { Intent, JsonObject, KernelErrorShape, Principal, RequestBody, RequestRecord, RequestState, Verdict } from './types.ts';
import type { KernelContext } from './context.ts';
import { createBudgetStore } from './policy/index.ts';
import { containsNul, storable, type AuditInput } from './audit/entry.ts';
import { rowsOf, texts } from './audit/store.ts';
import { mintGrant, recordGrant, requestMarker, type MintedGrant } from './grants.ts';

/** A request's path: describe, digest, policy, then (when allowed or approved) grant and execution. */

const ALLOW_TTL_SECONDS = 300;
/** A value for a statement written out: json and timestamps as text, the columns' own encoding, and SQL NULL for none. */
const [json, iso] = [(value: unknown) => (value == null ? null : JSON.stringify(value)), (value: Date | null) => value?.toISOString() ?? null];
const DEFAULT_APPROVAL_SECONDS = 3600;

/**
 * A request claimed for execution, with its single-use grant: in the transaction that approved it, or (`deferred`, an
 * allowed write) recorded by `deferred` when its executor consumes the grant, or with its outcome if it never does.
 */
export interface Claim {
  row: typeof requests.$inferSelect;
  grant: MintedGrant;
  deferred?: Held['claim'];
}

/** A grant held in memory (`ctx.heldGrants`): a read's, or an allowed write's until its consumption records the claim. */
export type Held = { digest: string; expiresAt: number; consumed: boolean; claim?: (consumer: string | null) => Promise<void> };

/**
 * Records a request with its verdict; the caller runs an allowed one with `run`. An allowed write without a budget is
 * recorded with its claim in the commit that consumes its grant (one commit before the upstream call), one with a
 * budget in the transaction that spends it. An allowed read without a budget runs at once and is recorded after (`readNow`).
 */
export async function submit(ctx: KernelContext, agentId: string, tool: string, args: JsonObject, call: string | null = null): Promise<{ record: RequestRecord; claim: Claim | null }> {
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
    await ctx.audit.append([{ kind: 'request.refused', requestId: null, actor, data: storable({ tool, args, error: e.toJSON() }) }]);
    throw e;
  }
  // PostgreSQL cannot store U+0000 or an unpaired surrogate: refuse them by name instead of an internal error.
  const where = containsNul(described.args) ? 'The arguments contain' : containsNul(described.intent) ? 'Text the connector read upstream contains' : null;
  if (where) throw new KernelError('invalid_arguments', `${where} a NUL character (U+0000) or an unpaired surrogate (U+D800 to U+DFFF), which Countersign cannot store; remove it and ask again.`);
  const policy = ctx.policy();
  const now = ctx.now();
  const input = { tool, args: described.args, intent: described.intent, agent: agentOf(principal), now };
  const budget = createBudgetStore(ctx.db);
  const first = await evaluateSafely(() => policy.evaluate(input, budget));

  await ctx.audit.admit(); // before any transaction: when the sequencer is behind, new requests wait for it
  const requestId = `req_${randomUUID().replaceAll('-', '')}`;
  const bodyFor = (verdict: Verdict): RequestBody => {
    const ttl = verdict.decision === 'approve' ? verdict.expiresInSeconds ?? DEFAULT_APPROVAL_SECONDS : ALLOW_TTL_SECONDS;
    const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
    const nonce = randomBytes(16).toString('base64url');
    return { tool, args: described.args, pins: described.intent.pins, principal, policyVersion: policy.version, requestId, nonce, expiresAt };
  };
  const received = (digest: string, body: RequestBody): AuditInput =>
    ({ kind: 'request.received', requestId, actor, data: { digest, body, intent: described.intent } as unknown as JsonObject });
  if (first.decision === 'allow' && !first.spend && ctx.readOnly(tool)) return { record: await readNow(ctx, connector, bodyFor(first), described.intent, first, received, call), claim: null };
  // Request, verdict, (when allowed) its claim and grant, and the audit entries: one statement, so one round trip that
  // commits or fails whole. The request names its agent through the agent's active row, shared with revocation (which
  // cancels what has not started): after a revocation agent_id would be null, the insert fails and nothing is recorded.
  const record = async (db: Db, verdict: Verdict, defer = false): Promise<{ record: RequestRecord; claim: Claim | null }> => {
    const body = bodyFor(verdict);
    const digest = requestDigest(body);
    // An allowed request is inserted already `executing`: no one else can see it before this commits.
    const state = verdict.decision === 'allow' ? 'executing' : verdict.decision === 'deny' ? 'denied' : 'pending';
    const grant = state === 'executing' ? await mintGrant(ctx.keys, { requestId, digest, tool, ttlSeconds: ctx.grantTtlSeconds }) : null;
    const decided = { kind: 'policy.decided', requestId, actor: 'kernel', data: verdict as unknown as JsonObject };
    const active = db.$with('active').as(db.select({ id: agents.id }).from(agents).where(and(eq(agents.id, principal.agentId), isNull(agents.revokedAt))).for('share'));
    const lease = grant ? { leaseOwner: ctx.replicaId, leaseUntil: leaseEnd(ctx), attempt: 1 } : {};
    const values = { id: requestId, digest, agentId: sql`(select id from active)`, tool, body, intent: described.intent, verdict, state, ruleId: verdict.ruleId, expiresAt: new Date(body.expiresAt), createdAt: now, approvers: verdict.approvers ?? null, ...lease };
    // `consumer`: the executor consuming the grant now, in this statement; null retires it unused (expired now). Only
    // a claim recorded at once (no consumer) reads its row back: composing a RETURNING of every column costs CPU.
    const insert = (consumer?: string | null) => {
      const used = consumer ? { consumedAt: sql`now()` } : consumer === null ? { expiresAt: sql`now()` } : {};
      const consumed: AuditInput[] = consumer ? [{ kind: 'grant.consumed', requestId: null, actor: consumer, data: { jti: grant!.jti, digest } }] : [];
      const also = [
        grant && db.insert(grants).values({ jti: grant.jti, requestId, digest, expiresAt: grant.expiresAt, ...used }).getSQL(),
        grant && verdict.spend && db.insert(spends).values({ requestId, ...verdict.spend }).getSQL(),
        ctx.audit.queued([received(digest, body), decided, ...(grant ? startEntries(requestId, tool, grant, { owner: ctx.replicaId, attempt: 1 }) : []), ...consumed]),
      ].flatMap((insert, i) => (insert ? [db.$with(`w${i}`, {}).as(insert)] : []));
      const inserted = db.with(active, ...also).insert(requests).values(values);
      return (consumer === undefined ? inserted.returning() : inserted.then(() => [])).catch(async (error: unknown) => {
        const [agent] = await db.select({ revokedAt: agents.revokedAt }).from(agents).where(eq(agents.id, principal.agentId));
        throw agent?.revokedAt !== null ? new KernelError('unknown_agent', `agent ${principal.agentName} was revoked; nothing was recorded`) : error;
      });
    };
    if (defer) {
      // Nothing is written yet: the row as the claim will record it (its lease's end is the database's to set).
      const row = { ...values, agentId: principal.agentId, leaseUntil: null, updatedAt: now, result: null, error: null } as Claim['row'];
      // Recorded once: by the consumption (consumeHeld), or else by the outcome (which waits for a consumption under way).
      let once: Promise<void> | undefined;
      const deferred = (consumer: string | null) => (once ??= insert(consumer).then(() => {}));
      ctx.heldGrants.set(grant!.jti, { digest, expiresAt: grant!.expiresAt.getTime(), consumed: false, claim: deferred });
      return { record: (await ctx.store.records([row]))[0]!, claim: { row, grant: grant!, deferred } };
    }
    const [row] = await insert();
    const [recorded] = await ctx.store.records([row!], db);
    return { record: recorded!, claim: grant ? { row: row!, grant } : null };
  };
  // An allowed write is recorded with the commit that consumes its grant, synchronous, before anything runs upstream
  // (consumeHeld): the one commit before the call. What a human or the agent is told about (pending, denied) is
  // durable before they hear it.
  if (!first.spend) return record(ctx.db, first, first.decision === 'allow');
  return ctx.db.transaction(async (tx) => {
    // Budgets are checked and spent under one lock, so two concurrent requests cannot both fit in the last slot.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('countersign.budget'))`);
    return record(tx, await evaluateSafely(() => policy.evaluate(input, createBudgetStore(tx))));
  });
}

/**
 * Moves the request to `executing` (compare-and-swap from `from`, plus `guard` when given), leased to this replica, and
 * mints and records its grant, in `tx`. Returns the audit entries for the caller to append last in the same transaction.
 */
export async function claimIn(ctx: KernelContext, tx: Db, row: Claim['row'], from: RequestState[], guard?: SQL): Promise<{ claim: Claim; entries: AuditInput[] } | null> {
  const lease = { leaseOwner: ctx.replicaId, leaseUntil: leaseEnd(ctx), attempt: sql`${requests.attempt} + 1`, error: null };
  const claimed = await ctx.store.transition(tx, row.id, from, 'executing', lease, guard);
  if (!claimed) return null;
  const grant = await mintGrant(ctx.keys, { requestId: row.id, digest: row.digest, tool: row.tool, ttlSeconds: ctx.grantTtlSeconds });
  await recordGrant(tx, { jti: grant.jti, requestId: row.id, digest: row.digest, expiresAt: grant.expiresAt });
  return { claim: { row: claimed, grant }, entries: startEntries(row.id, row.tool, grant, { owner: ctx.replicaId, attempt: claimed.attempt }) };
}

function startEntries(requestId: string, tool: string, grant: MintedGrant, lease?: JsonObject): AuditInput[] {
  return [
    { kind: 'grant.minted', requestId, actor: 'kernel', data: { jti: grant.jti, expiresAt: grant.expiresAt.toISOString() } },
    { kind: 'execution.started', requestId, actor: 'kernel', data: { tool, ...lease } },
  ];
}

/** The end of a lease taken or renewed now, on the database's clock (replicas' clocks may differ). */
export const leaseEnd = (ctx: KernelContext) => sql`now() + make_interval(secs => ${ctx.leaseMs / 1000})`;

/** True while this replica still holds the lease of this claim: state changes by an owner that lost it are refused. */
export const holds = (ctx: KernelContext, row: Claim['row']) => and(eq(requests.leaseOwner, ctx.replicaId), eq(requests.attempt, row.attempt));

/**
 * An allowed read runs before anything is written, and request, verdict, grant and outcome are recorded in one
 * transaction after: a read changes nothing upstream, so a crash mid-call loses only the record of a look. Its grant
 * is still minted, checked by the executor and consumed once, from memory (`ctx.heldGrants`, see consumeHeld):
 * no upstream call without a valid unconsumed grant.
 */
async function readNow(ctx: KernelContext, connector: string, body: RequestBody, intent: Intent, verdict: Verdict, received: (digest: string, body: RequestBody) => AuditInput, call: string | null): Promise<RequestRecord> {
  const digest = requestDigest(body);
  const grant = await mintGrant(ctx.keys, { requestId: body.requestId, digest, tool: body.tool, ttlSeconds: ctx.grantTtlSeconds });
  const held: Held = { digest, expiresAt: grant.expiresAt.getTime(), consumed: false };
  ctx.heldGrants.set(grant.jti, held);
  let outcome: Outcome;
  try {
    // A read leaves nothing upstream to find later, so it carries no reconcile marker.
    const message = { op: 'execute', body: body as unknown as JsonObject, digest, grant: grant.jwt, marker: '', call };
    outcome = { result: storable(await ctx.port.send<ExecuteReply & JsonObject>(connector, message)) };
  } catch (error) {
    outcome = { error: storable(asKernelError(error).toJSON()) };
  } finally {
    ctx.heldGrants.delete(grant.jti);
  }
  // A read changed nothing upstream whatever happened to it: it succeeded or failed, never `unknown`.
  const state = outcome.result ? 'succeeded' : 'failed';
  const { requestId, tool, principal } = body;
  const at = new Date();
  const row = { id: requestId, digest, agentId: principal.agentId, tool, body, intent, verdict, state, ruleId: verdict.ruleId, expiresAt: new Date(body.expiresAt), createdAt: at, updatedAt: at, result: null, error: null, ...outcome };
  // An unused grant is retired with the read (expired now), so it cannot be consumed from the database later.
  const used = held.consumed ? { expiresAt: grant.expiresAt, consumedAt: at } : { expiresAt: at, consumedAt: null };
  const consumed: AuditInput[] = held.consumed ? [{ kind: 'grant.consumed', requestId: null, actor: connector, data: { jti: grant.jti, digest } }] : [];
  const decided = { kind: 'policy.decided', requestId, actor: 'kernel', data: verdict as unknown as JsonObject };
  const ended = { kind: `execution.${state}`, requestId, actor: 'kernel', data: (outcome.result ?? outcome.error ?? {}) as unknown as JsonObject };
  const entries = [received(digest, body), decided, ...startEntries(requestId, tool, grant), ...consumed, ended];
  await recordRead(ctx, [requestId, digest, principal.agentId, tool, json(body), json(intent), json(verdict), state, verdict.ruleId, body.expiresAt, iso(at), iso(at), json(row.result), json(row.error), grant.jti, iso(used.expiresAt), iso(used.consumedAt)], entries);
  return (await ctx.store.records([row]))[0]!;
}

/** A read's record: its request's and grant's columns in `insertReads` order (json and timestamps as text), its audit entries. */
type Read = { cells: (string | null)[]; entries: AuditInput[]; done: () => void; fail: (error: unknown) => void };
/** Per kernel, while a record statement is in flight: the reads that wait to go with the next one. */
const waiting = new WeakMap<KernelContext, Read[]>();

/**
 * Records reads in one statement per round trip (group commit): with none in flight a read goes at the end of this
 * turn of the event loop, with every read that ended in it (answers that arrived together), else with every read that
 * ended meanwhile, next. At 32 clients a statement per read cost more CPU (client and server) than the rest of the
 * record; on PGlite, whose statements run on this thread, no read ends while one is in flight, so only the turn groups
 * them. A group that fails is retried one read at a time: no read can fail another's record.
 */
function recordRead(ctx: KernelContext, cells: Read['cells'], entries: AuditInput[]): Promise<void> {
  return new Promise((done, fail) => {
    const queue = waiting.get(ctx);
    if (queue) return void queue.push({ cells, entries, done, fail });
    waiting.set(ctx, []);
    void (async () => {
      for (let group = [{ cells, entries, done, fail }, ...(await new Promise<void>((go) => setImmediate(go)), waiting.get(ctx)!.splice(0))]; group.length > 0; group = waiting.get(ctx)!.splice(0)) {
        const failed = await insertReads(ctx, group).then(() => null, (error: unknown) => ({ error }));
        for (const r of group) failed === null ? r.done() : group.length === 1 ? r.fail(failed.error) : void insertReads(ctx, [r]).then(r.done, r.fail);
      }
      waiting.delete(ctx);
    })();
  });
}

/**
 * Requests, grants and audit entries of `reads` in one statement: they commit together, in one round trip and no
 * transaction, without waiting for the disk where the gateway offers that (KernelOptions.asyncCommitDb). Written out,
 * a column an array: drizzle's builder took 3x the CPU to compose one read's, and the text is the same for any count.
 */
async function insertReads(ctx: KernelContext, reads: Read[]): Promise<void> {
  const c = reads[0]!.cells.map((_, i) => texts(reads.map((r) => r.cells[i]!)));
  await (ctx.asyncCommitDb ?? ctx.db).execute(sql`with r as (insert into requests (id, digest, agent_id, tool, body, intent, verdict, state, rule_id, expires_at, created_at, updated_at, result, error)
      select * from unnest(${c[0]}::text[], ${c[1]}::text[], ${c[2]}::text[], ${c[3]}::text[], ${c[4]}::jsonb[], ${c[5]}::jsonb[], ${c[6]}::jsonb[], ${c[7]}::text[], ${c[8]}::text[], ${c[9]}::timestamptz[], ${c[10]}::timestamptz[], ${c[11]}::timestamptz[], ${c[12]}::jsonb[], ${c[13]}::jsonb[])),
    g as (insert into grants (jti, request_id, digest, expires_at, consumed_at) select * from unnest(${c[14]}::text[], ${c[0]}::text[], ${c[1]}::text[], ${c[15]}::timestamptz[], ${c[16]}::timestamptz[])) ${ctx.audit.queued(reads.flatMap((r) => r.entries))}`);
}

/**
 * Consumes a grant held in memory (true), or says it is not one (false: the caller consumes from the database). The
 * kernel's one thread makes the check-and-set atomic; a second use, a wrong digest or a late use is refused. An allowed
 * write's claim is recorded now, with the grant consumed by `consumer`, in one synchronous commit.
 */
export async function consumeHeld(ctx: KernelContext, jti: string, digest: string, consumer: string): Promise<boolean> {
  const held = ctx.heldGrants.get(jti);
  if (!held) return false;
  if (held.digest !== digest) throw new KernelError('digest_mismatch', `grant ${jti} was issued for another request; nothing was executed`);
  if (held.consumed) throw new KernelError('grant_consumed', `grant ${jti} was already used; a request executes at most once`);
  if (held.expiresAt <= Date.now()) throw new KernelError('grant_expired', `grant ${jti} expired before it was used; the kernel must mint a new one`);
  held.consumed = true;
  await held.claim?.(consumer);
  return true;
}

/** An error anywhere in policy evaluation denies: fail closed. */
const evaluateSafely = (evaluate: () => Promise<Verdict>): Promise<Verdict> =>
  Promise.resolve().then(evaluate).catch((error: unknown): Verdict => ({ decision: 'deny', ruleId: null, reason: `policy evaluation failed, so the request is denied: ${asKernelError(error).message}` }));

function agentOf(principal: Principal) {
  return { id: principal.agentId, name: principal.agentName, owner: principal.owner };
}

/**
 * Claims an approved request, mints its single-use grant and runs it. The claim is a compare-and-swap, so two callers
 * never both execute one request.
 */
export async function execute(ctx: KernelContext, requestId: string): Promise<void> {
  const claimed = await ctx.db.transaction(async (tx) => {
    const result = await claimIn(ctx, tx, await ctx.store.row(requestId, tx), ['approved']);
    if (result) await ctx.audit.append(result.entries, tx);
    return result;
  });
  if (claimed) await run(ctx, claimed.claim);
}

/**
 * Sends a claimed request with its grant to the connector's executor and records the outcome, renewing the lease
 * while the executor works. `rerun`: a second attempt after reconcile proved the first never reached upstream.
 */
export async function run(ctx: KernelContext, claim: Claim, rerun = false, call: string | null = null): Promise<Recorded | null> {
  const { row, grant } = claim;
  const connector = ctx.connectorFor(row.tool);
  const mine = and(eq(requests.id, row.id), eq(requests.state, 'executing'), holds(ctx, row));
  const renew = () => void ctx.db.update(requests).set({ leaseUntil: leaseEnd(ctx) }).where(mine).catch(() => {});
  const renewer = setInterval(renew, ctx.leaseMs / 3);
  try {
    let result: ExecuteReply;
    try {
      if (!connector) throw new KernelError('unknown_tool', `the connector for ${row.tool} is not running`);
      const marker = await requestMarker(ctx.keys, row.id);
      const message = { op: 'execute', body: row.body as unknown as JsonObject, digest: row.digest, grant: grant.jwt, marker, call };
      result = await ctx.port.send<ExecuteReply & JsonObject>(connector, message);
    } catch (error) {
      const e = asKernelError(error);
      if (e.code === 'upstream_unknown') {
        // The executor cannot tell whether the call happened: reconcile at once (the lease ends now) rather than guess.
        return await finish(ctx, claim, 'unknown', { error: e.toJSON(), leaseUntil: sql`now()` });
      } else if (rerun && e.code === 'pin_drift') {
        // Upstream moved between reconcile and this attempt: perhaps the first attempt landed late. A human decides.
        const check = 'the upstream object this request changes';
        return await finish(ctx, claim, 'unknown', { error: outcomeUnknown(`upstream changed before the second attempt (${e.message})`, check), leaseUntil: null });
      } else {
        return await finish(ctx, claim, 'failed', { error: e.toJSON() });
      }
    }
    // It ran: from here only a success is recorded (before, a failure to record it was recorded as a failure, and the
    // agent ran it again). An answer the audit log or the database cannot take (nested past their limits) is recorded
    // without it; when the database itself fails, the lease lapses and reconcile finds what happened.
    return await finish(ctx, claim, 'succeeded', { result }).catch((error: unknown) => finish(ctx, claim, 'succeeded', { result: unrecorded(error) }));
  } finally {
    clearInterval(renewer);
  }
}

type Outcome = { result?: ExecuteReply; error?: KernelErrorShape };
/** The answer recorded for a success whose own answer could not be: that it ran, and why. */
const unrecorded = (error: unknown): ExecuteReply => ({ data: {}, text: `It ran, but its answer could not be recorded (${asKernelError(error).message}); look upstream for what it returned.` });

/** The error a request waiting for a human carries: what is unknown, and where to look. */
export function outcomeUnknown(why: string, check: string): KernelErrorShape {
  const message = `This may or may not have run: ${why}. Check ${check}, then its owner chooses Mark as done or Run again.`;
  return { code: 'outcome_unknown', message, check };
}

/**
 * Records an execution's outcome, only while this replica still holds the claim's lease. An owner that lost it (its
 * lease lapsed and another replica took over) gets no say: its outcome is audited as a conflict, never a second result.
 */
async function finish(ctx: KernelContext, { row, grant, deferred }: Claim, state: 'succeeded' | 'failed' | 'unknown', outcome: Outcome & { leaseUntil?: SQL | null }): Promise<Recorded | null> {
  // A deferred claim its executor never consumed (it refused before anything ran) is recorded now, its grant retired.
  ctx.heldGrants.delete(grant.jti);
  await deferred?.(null);
  const { leaseUntil = null, ...raw } = outcome, patch = storable(raw);
  const data = (patch.result ?? patch.error ?? {}) as unknown as JsonObject;
  const done = ctx.audit.queued([{ kind: `execution.${state}`, requestId: row.id, actor: 'kernel', data }]);
  const conflict = ctx.audit.queued([{ kind: 'execution.conflict', requestId: row.id, actor: 'kernel', data: { owner: ctx.replicaId, attempt: row.attempt, refused: state, outcome: data } }]);
  // The move and its audit entry in one statement (atomic without a transaction, one round trip): the entry is the
  // outcome when the update took the row, else the conflict. The row as moved is the claim's with what the update set.
  // Written out, as a read's record is: drizzle's builder took over twice the CPU to compose it, on every write.
  const updatedAt = new Date();
  const set = [sql`state = ${state}, updated_at = ${iso(updatedAt)}, lease_until = ${leaseUntil}`, ...Object.entries(patch).map(([column, value]) => sql`${sql.identifier(column)} = ${json(value)}`)];
  const [took] = rowsOf(await ctx.db.execute(sql`with moved as (update requests set ${sql.join(set, sql`, `)} where ${and(eq(requests.id, row.id), eq(requests.state, 'executing'), holds(ctx, row))} returning id),
    ended as (${done} where exists (select 1 from moved)), refused as (${conflict} where not exists (select 1 from moved)) select id from moved`));
  ctx.wake(row.id);
  return took ? { ...row, ...patch, state, updatedAt } : null;
}

/** Moves a request from `from` to `to` with its audit entry, in one transaction; false, writing nothing, when it was elsewhere. */
export async function move(ctx: KernelContext, id: string, from: RequestState, to: RequestState, entry: { kind: string; actor: string; data: JsonObject }): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    if (!(await ctx.store.transition(tx, id, [from], to))) return false;
    await ctx.audit.append([{ ...entry, requestId: id }], tx);
    return true;
  });
}
