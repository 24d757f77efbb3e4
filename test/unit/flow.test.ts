import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eq, inArray, sql } from 'drizzle-orm';
import { CAPABILITIES, KernelError, readEntries, schema, type AuditEntry, type CompiledPolicy, type Envelope, type Json, type JsonObject, type Port, type RequestBody } from '../../kernel/index.ts';
import { rowsOf } from '../../kernel/audit/store.ts';
import { startKernel, type KernelFixture } from '../support/kernel-fixture.ts';

// A request's path through kernel/flow.ts on the real kernel (PGlite in memory), with a scripted connector endpoint
// (`connector.spy`, a raw router endpoint holding a connector's capabilities) in place of tools/host.ts: each test
// makes the executor do what a real one cannot be made to (consume its grant twice, lose its lease) and checks what the
// kernel recorded. Each check here was shown to fail with the protection it names removed (test/mutation/README.md).

vi.setConfig({ testTimeout: 60_000 });

type Execute = { op: 'execute'; body: RequestBody; digest: string; grant: string; marker: string };
/** What the spy does when asked to execute the request whose `key` argument names the script; default: succeed. */
const scripts = new Map<string, (m: Execute, attempt: number) => Promise<Json>>();
const executions = new Map<string, Execute[]>();
/** What the spy answers to `reconcile` for a key; the markers it was given are kept in `markers`. */
const reconciles = new Map<string, () => Promise<Json>>();
const markers = new Map<string, string>();
const evaluations = new Map<string, number>();
/** What happens while the spy describes a key's call (after the kernel looked up the agent, before it records). */
const whileDescribing = new Map<string, () => Promise<unknown>>();
/** Request ids the kernel woke (ctx.wake tells other replicas through signals.publish). */
const published: string[] = [];
let spy: Port;
let k: KernelFixture;
let agentId: string;

const tool = (name: string, impact: string) =>
  ({ name, title: name, description: name, inputSchema: { type: 'object' }, impact, consequence: impact === 'read' ? 'reads' : 'writes', connector: 'spy', sandbox: true });

async function spyHandle(envelope: Envelope): Promise<Json> {
  const m = envelope.body as JsonObject;
  if (m.op === 'tools.list') return [tool('spy_read', 'read'), tool('spy_write', 'write')];
  const args = (m.op === 'describe' ? m.args : (m.body as JsonObject).args) as { key: string };
  if (m.op === 'describe') {
    await whileDescribing.get(args.key)?.();
    if (args.key.startsWith('refused')) throw new KernelError('invalid_arguments', 'the spy refuses this key');
    const summary = args.key === 'nul-upstream' ? 'upstream wrote \u0000 here' : `spy ${args.key}`;
    return { args, intent: { summary, consequence: 'writes', reversible: true, fields: [], pins: {}, sandbox: true } };
  }
  if (m.op === 'reconcile') {
    markers.set(args.key, m.marker as string);
    return reconciles.get(args.key)!();
  }
  const script = scripts.get(args.key);
  // Without a script it acts as a real executor does (tools/host.ts): nothing runs until the kernel consumed its grant.
  if (!script) await spy.send('kernel', { op: 'grant.consume', jti: claims(m.grant as string).jti, digest: m.digest as string });
  const seen = [...(executions.get(args.key) ?? []), m as unknown as Execute];
  executions.set(args.key, seen);
  return script ? script(m as unknown as Execute, seen.length) : { data: { key: args.key, done: true }, text: 'done' };
}

/** A barrier for the first (unlocked) policy look of the `budget-` requests, so all of them see the budget unspent. */
let releaseLooks: () => void = () => {};
const looksDone = new Promise<void>((resolve) => (releaseLooks = resolve));

function wrapPolicy(policy: CompiledPolicy): CompiledPolicy {
  return {
    ...policy,
    async evaluate(input, budgets) {
      const key = String(input.args.key);
      const n = (evaluations.get(key) ?? 0) + 1;
      evaluations.set(key, n);
      if (key === 'throws' || (key === 'budget-throws' && n === 2)) throw new Error('the evaluator crashed');
      const verdict = await policy.evaluate(input, budgets);
      if (/^budget-\d$/.test(key) && n === 1) {
        if ([...evaluations.keys()].filter((x) => /^budget-\d$/.test(x)).length === 3) releaseLooks();
        await looksDone;
      }
      return verdict;
    },
  };
}

beforeAll(async () => {
  k = await startKernel({
    wrapPolicy,
    signals: { publish: async (id: string) => void published.push(id), subscribe: async () => async () => {} },
    policy: {
      default: 'approve',
      rules: [
        { id: 'reads', tools: ['spy_read'], decision: 'allow' },
        { id: 'budget', tools: ['spy_write'], when: 'args.key.startsWith("budget")', decision: 'allow', limit: { sum: '1', per: 'day', max: 2 } },
        { id: 'capped', tools: ['spy_write'], when: 'args.key.startsWith("capped")', decision: 'approve', limit: { sum: '1', per: 'day', max: 5 } },
        { id: 'no', tools: ['spy_write'], when: 'args.key.startsWith("deny")', decision: 'deny', reason: 'denied by the test' },
        { id: 'writes', tools: ['spy_write'], when: 'args.key.startsWith("w-") || args.key.startsWith("rc-")', decision: 'allow' },
      ],
    },
  });
  spy = k.router.register('connector.spy', spyHandle, CAPABILITIES.connector);
  await k.kernel.refreshTools();
  agentId = await k.addAgent('bot', 'jane@example.com');
}, 180_000);
afterAll(async () => {
  await k?.close();
});

const submit = (tool: string, key: string) => k.submit(agentId, tool, { key });
/** A request as the kernel answers for it later (request.get), read from the store. */
const stored = (requestId: string) => k.admin.send<JsonObject>('kernel', { op: 'request.get', requestId });
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string; exp: number };
/** grant.consume as the executor sends it; the error code when refused. */
const consume = (jti: string, digest: string) => spy.send('kernel', { op: 'grant.consume', jti, digest }).then((reply) => (reply === true ? 'consumed' : `replied ${String(reply)}`), (e: KernelError) => e.code);
/** A script that consumes its grant as a real executor does, then answers or throws as `then` does. */
const consumeThen = (then: () => Json) => async (m: Execute) => (expect(await consume(claims(m.grant).jti, m.digest)).toBe('consumed'), then());
/** The same, with the refusal's message as the executor reports it. */
const consumeWhy = (jti: string, digest: string) =>
  spy.send('kernel', { op: 'grant.consume', jti, digest }).then((reply) => (reply === true ? 'consumed' : `replied ${String(reply)}`), (e: KernelError) => `${e.code}: ${e.message}`);
const grantRow = async (jti: string) => (await k.database.db.select().from(schema.grants).where(eq(schema.grants.jti, jti)))[0]!;
const requestRow = async (id: string) => (await k.database.db.select().from(schema.requests).where(eq(schema.requests.id, id)))[0]!;
async function audit(filter: { requestId?: string; kind?: string }): Promise<AuditEntry[]> {
  await k.audit.sync();
  const entries: AuditEntry[] = [];
  for await (const entry of readEntries(k.database.db, filter)) entries.push(entry);
  return entries;
}
/**
 * Waits until the database's clock has passed these requests' lease ends. A lease that ended "now" lapses for recovery
 * (`lease_until < now()`) once the clock moves on, and PGlite's counts milliseconds: a recovery within the same one
 * skipped the request (a CI run on Node 24 saw it).
 */
async function pastLeases(ids: string[]): Promise<void> {
  const passed = sql`select coalesce(bool_and(now() > lease_until), true) as ok from requests where ${inArray(schema.requests.id, ids)}`;
  while (!rowsOf<{ ok: boolean }>(await k.database.db.execute(passed))[0]!.ok) await new Promise((resolve) => setTimeout(resolve, 1));
}
const secondsUntil = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 1000);

describe("an allowed read's grant, held in memory while the read runs", () => {
  it('is consumed once, only with its own digest and before it expires, and recorded with the read', async () => {
    scripts.set('r-consumes', async (m) => {
      const { jti, exp } = claims(m.grant);
      const seen = [await consumeWhy(jti, `${m.digest.slice(0, -1)}${m.digest.endsWith('0') ? '1' : '0'}`)]; // another digest
      const now = vi.spyOn(Date, 'now').mockReturnValue(exp * 1000); // the very millisecond it expires
      try {
        seen.push(await consumeWhy(jti, m.digest));
      } finally {
        now.mockRestore();
      }
      seen.push(await consumeWhy(jti, m.digest), await consumeWhy(jti, m.digest));
      return { data: { seen, marker: m.marker }, text: 'read' };
    });
    const view = await submit('spy_read', 'r-consumes');
    const { jti, exp } = claims(executions.get('r-consumes')![0]!.grant);
    expect(view).toMatchObject({ state: 'succeeded', result: { data: { marker: '' } } });
    // Its record's statement is written out by hand: what it stored reads back as the answer the agent got, json as
    // json (drizzle's reads would parse a json string too), timestamps as the kernel's.
    expect(await stored(view.id)).toEqual(view);
    const types = sql`select jsonb_typeof(body) as body, jsonb_typeof(intent) as intent, jsonb_typeof(verdict) as verdict, jsonb_typeof(result) as result, error is null as "noError", created_at = updated_at as same from requests where id = ${view.id}`;
    expect(rowsOf(await k.database.db.execute(types))).toEqual([{ body: 'object', intent: 'object', verdict: 'object', result: 'object', noError: true, same: true }]);
    // Each refusal says what happened to the grant and that nothing ran.
    expect(view.result?.data.seen).toEqual([
      `digest_mismatch: grant ${jti} was issued for another request; nothing was executed`,
      `grant_expired: grant ${jti} expired before it was used; the kernel must mint a new one`,
      'consumed',
      `grant_consumed: grant ${jti} was already used; a request executes at most once`,
    ]);
    expect(view.id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(secondsUntil(view.createdAt, view.body.expiresAt)).toBeGreaterThan(240); // an allowed request lives 300 s
    expect(secondsUntil(view.createdAt, view.body.expiresAt)).toBeLessThan(360);
    expect(await grantRow(jti)).toMatchObject({ requestId: view.id, digest: view.digest, expiresAt: new Date(exp * 1000) });
    expect((await grantRow(jti)).consumedAt).not.toBeNull();
    expect((await audit({ requestId: view.id })).map((e) => e.kind)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.succeeded']);
    expect(await audit({ kind: 'grant.consumed' })).toEqual([expect.objectContaining({ actor: 'connector.spy', data: { jti, digest: view.digest } })]);
  });

  it('is retired with a read that failed without using it: the database refuses it later', async () => {
    scripts.set('r-fails', async () => {
      throw new KernelError('upstream_error', 'the note store is down');
    });
    const view = await submit('spy_read', 'r-fails');
    expect(view).toMatchObject({ state: 'failed', error: { code: 'upstream_error', message: 'the note store is down' } });
    const { jti } = claims(executions.get('r-fails')![0]!.grant);
    expect((await grantRow(jti)).consumedAt).toBeNull();
    expect(await consume(jti, view.digest)).toBe('grant_expired');
    expect((await audit({ requestId: view.id })).at(-1)).toMatchObject({ kind: 'execution.failed', data: { code: 'upstream_error' } });
  });
});

describe('submissions refused before anything is recorded', () => {
  it('refuses an unknown tool, arguments the connector refuses, and NUL characters from the agent or from upstream', async () => {
    await expect(submit('spy_nothing', 'x')).rejects.toMatchObject({ code: 'unknown_tool', message: expect.stringContaining('"spy_nothing"; call tools/list') });
    await expect(submit('spy_write', 'refused')).rejects.toMatchObject({ code: 'invalid_arguments', message: 'the spy refuses this key' });
    // Refused arguments holding a NUL are audited with U+FFFD in its place: the agent hears why they were refused.
    await expect(submit('spy_write', 'refused\u0000')).rejects.toMatchObject({ code: 'invalid_arguments', message: 'the spy refuses this key' });
    await expect(submit('spy_write', 'a\u0000b')).rejects.toMatchObject({ code: 'invalid_arguments', message: expect.stringMatching(/^The arguments contain a NUL character/) });
    await expect(submit('spy_write', 'nul-upstream')).rejects.toMatchObject({ code: 'invalid_arguments', message: expect.stringMatching(/^Text the connector read upstream contains a NUL/) });
    expect(await audit({ kind: 'request.refused' })).toEqual([
      expect.objectContaining({ requestId: null, actor: `agent:${agentId}`, data: { tool: 'spy_nothing', reason: 'unknown tool' } }),
      expect.objectContaining({ actor: `agent:${agentId}`, data: { tool: 'spy_write', args: { key: 'refused' }, error: { code: 'invalid_arguments', message: 'the spy refuses this key' } } }),
      expect.objectContaining({ actor: `agent:${agentId}`, data: { tool: 'spy_write', args: { key: 'refused\ufffd' }, error: { code: 'invalid_arguments', message: 'the spy refuses this key' } } }),
    ]);
    expect(executions.has('a\u0000b') || executions.has('nul-upstream')).toBe(false);
  });
});

describe('an agent revoked while its call was being described', () => {
  it('records nothing and says the agent was revoked, whether revoked or deleted; other failures of the insert pass through', async () => {
    const late = await k.addAgent('late', 'jane@example.com');
    whileDescribing.set('w-late', () => k.database.db.update(schema.agents).set({ revokedAt: new Date() }).where(eq(schema.agents.id, late)));
    await expect(k.submit(late, 'spy_write', { key: 'w-late' })).rejects.toMatchObject({ code: 'unknown_agent', message: 'agent late was revoked; nothing was recorded' });
    const gone = await k.addAgent('gone', 'jane@example.com');
    whileDescribing.set('w-gone', () => k.database.db.delete(schema.agents).where(eq(schema.agents.id, gone)));
    await expect(k.submit(gone, 'spy_write', { key: 'w-gone' })).rejects.toMatchObject({ code: 'unknown_agent', message: 'agent gone was revoked; nothing was recorded' });
    expect(await k.database.db.select().from(schema.requests).where(inArray(schema.requests.agentId, [late, gone]))).toEqual([]);
    await k.database.db.execute(sql`create function refuse_key() returns trigger language plpgsql as $$ begin raise exception 'the test refuses this row'; end $$`);
    await k.database.db.execute(sql`create trigger refuse_key before insert on requests for each row when (new.body->'args'->>'key' = 'w-refused') execute function refuse_key()`);
    try {
      await expect(k.submit(agentId, 'spy_write', { key: 'w-refused' })).rejects.not.toMatchObject({ code: 'unknown_agent' });
    } finally {
      await k.database.db.execute(sql`drop trigger refuse_key on requests`);
    }
    expect(executions.has('w-late') || executions.has('w-gone') || executions.has('w-refused')).toBe(false);
  });
});

describe('policy at submit', () => {
  it('denies when policy evaluation throws, on the first look and on the look under the budget lock (fail closed)', async () => {
    for (const key of ['throws', 'budget-throws']) {
      const view = await submit('spy_write', key);
      expect(view).toMatchObject({ state: 'denied', verdict: { decision: 'deny', ruleId: null, reason: 'policy evaluation failed, so the request is denied: internal error: the evaluator crashed' } });
      expect(executions.has(key)).toBe(false);
    }
    expect(evaluations.get('budget-throws')).toBe(2); // the first look allowed it, within budget
  });

  it('records a deny rule as denied and a request sent for approval as pending, with neither leased nor granted', async () => {
    const denied = await submit('spy_write', 'deny-1');
    expect(denied).toMatchObject({ state: 'denied', verdict: { decision: 'deny', ruleId: 'no', reason: 'denied by the test' } });
    const held = await submit('spy_write', 'held-1');
    expect(held.state).toBe('pending');
    expect(secondsUntil(held.createdAt, held.body.expiresAt)).toBeGreaterThan(3000); // the default approval lives an hour
    const row = await requestRow(held.id);
    expect(row).toMatchObject({ leaseOwner: null, approvers: held.verdict.approvers });
    expect(row.approvers).not.toBeNull();
    expect(await k.database.db.select().from(schema.grants).where(eq(schema.grants.requestId, held.id))).toEqual([]);
    expect((await audit({ requestId: held.id })).map((e) => e.kind)).toEqual(['request.received', 'policy.decided']);
    expect(executions.has('deny-1') || executions.has('held-1')).toBe(false);
  });

  it('spends a budget only for what runs, and checks it again under a lock so concurrent requests cannot overspend it', async () => {
    // All three looked at the budget before any was recorded (the barrier in wrapPolicy): only the locked look stops the third.
    const views = await Promise.all(['budget-1', 'budget-2', 'budget-3'].map((key) => submit('spy_write', key)));
    expect(views.map((v) => v.state).sort()).toEqual(['pending', 'succeeded', 'succeeded']);
    const spent = await k.database.db.select().from(schema.spends).where(eq(schema.spends.ruleId, 'budget'));
    expect(spent.map((s) => s.requestId).sort()).toEqual(views.filter((v) => v.state === 'succeeded').map((v) => v.id).sort());
    const capped = await submit('spy_write', 'capped-1');
    expect(capped).toMatchObject({ state: 'pending', verdict: { ruleId: 'capped', spend: { amount: 1 } } });
    expect(await k.database.db.select().from(schema.spends).where(eq(schema.spends.ruleId, 'capped'))).toEqual([]);
  });

  it('cancels a pending request once, with its audit entry', async () => {
    const held = await submit('spy_write', 'held-2');
    const cancel = () => k.admin.send<JsonObject>('kernel', { op: 'request.cancel', requestId: held.id, agentId, reason: 'changed my mind' });
    await expect(cancel()).resolves.toMatchObject({ state: 'cancelled' });
    await expect(cancel()).rejects.toMatchObject({ code: 'not_pending' });
    expect((await audit({ requestId: held.id })).at(-1)).toMatchObject({ kind: 'request.cancelled', actor: 'test.admin', data: { reason: 'changed my mind' } });
  });
});

describe('execution outcomes', () => {
  it('records a success with its result, under a lease of about leaseMs that ends with it', async () => {
    let leftSeconds = 0;
    scripts.set('w-ok', async (m) => {
      expect(await consume(claims(m.grant).jti, m.digest)).toBe('consumed');
      const left = sql<number>`extract(epoch from ${schema.requests.leaseUntil} - now())::float8`;
      const [row] = await k.database.db.select({ left }).from(schema.requests).where(eq(schema.requests.id, m.body.requestId));
      leftSeconds = row!.left;
      return { data: { written: true }, text: 'written' };
    });
    const view = await submit('spy_write', 'w-ok');
    expect(view).toMatchObject({ state: 'succeeded', result: { data: { written: true }, text: 'written' } });
    // The answer is built from the claim and what its outcome set, not read back: it must be the record as stored.
    expect(await stored(view.id)).toEqual(view);
    expect(leftSeconds).toBeGreaterThan(0);
    expect(leftSeconds).toBeLessThanOrEqual(30);
    expect((await requestRow(view.id)).leaseUntil).toBeNull();
    const entries = await audit({ requestId: view.id });
    const { jti, exp } = claims(executions.get('w-ok')![0]!.grant);
    expect(entries.map((e) => e.kind)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.succeeded']);
    expect(entries[2]!.data).toEqual({ jti, expiresAt: new Date(exp * 1000).toISOString() });
    expect(entries[3]!.data).toEqual({ tool: 'spy_write', owner: expect.any(String), attempt: 1 });
    expect(entries[4]!.data).toEqual({ data: { written: true }, text: 'written' });
  });

  it('wakes the calls held on a request when its execution ends, and stops renewing its lease', async () => {
    const intervals = new Set<unknown>();
    const set = vi.spyOn(globalThis, 'setInterval');
    const clear = vi.spyOn(globalThis, 'clearInterval').mockImplementation((id) => void intervals.delete(id));
    try {
      set.mockImplementation(((fn: () => void, ms?: number) => {
        const id = setTimeout(() => {}, 0); // never fires its callback: the test only needs the handle
        if (ms === 10_000) intervals.add(id); // the lease renewer: leaseMs / 3
        return id;
      }) as typeof setInterval);
      const woken = published.length;
      const view = await submit('spy_write', 'w-wakes');
      expect(view.state).toBe('succeeded');
      expect(published.slice(woken)).toContain(view.id);
      expect(set.mock.calls.some(([, ms]) => ms === 10_000)).toBe(true);
      expect(intervals.size).toBe(0);
    } finally {
      set.mockRestore();
      clear.mockRestore();
    }
  });

  it('records a failure, and pin drift on a first attempt as a failure too', async () => {
    scripts.set('w-fails', async () => {
      throw new KernelError('upstream_error', 'upstream said 500');
    });
    scripts.set('w-drifts', async () => {
      throw new KernelError('pin_drift', 'the note changed');
    });
    const failed = await submit('spy_write', 'w-fails');
    expect(failed).toMatchObject({ state: 'failed', error: { code: 'upstream_error', message: 'upstream said 500' } });
    const drifted = await submit('spy_write', 'w-drifts');
    expect(drifted).toMatchObject({ state: 'failed', error: { code: 'pin_drift', message: 'the note changed' } });
    for (const view of [failed, drifted]) expect(await stored(view.id)).toEqual(view);
    expect((await audit({ requestId: drifted.id })).at(-1)).toMatchObject({ kind: 'execution.failed', data: { code: 'pin_drift' } });
  });

  it('records unknown when upstream cannot tell, and leaves a rerun whose pins drifted to a human', async () => {
    scripts.set('w-unknown', async (_m, attempt) => {
      throw attempt === 1 ? new KernelError('upstream_unknown', 'the connection dropped mid-call') : new KernelError('pin_drift', 'existed was false, now true');
    });
    const view = await submit('spy_write', 'w-unknown');
    expect(view).toMatchObject({ state: 'unknown', error: { code: 'upstream_unknown', message: 'the connection dropped mid-call' } });
    expect(await stored(view.id)).toEqual(view);
    // Its lease ended with the attempt, so recovery reconciles at once: no grant was used, so it runs again.
    await pastLeases([view.id]);
    await k.kernel.recover();
    expect(executions.get('w-unknown')).toHaveLength(2);
    const check = 'the upstream object this request changes';
    const message = `This may or may not have run: upstream changed before the second attempt (existed was false, now true). Check ${check}, then its owner chooses Mark as done or Run again.`;
    const after = await k.admin.send<JsonObject>('kernel', { op: 'request.get', requestId: view.id });
    expect(after).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown', message, check } });
    expect((await requestRow(view.id)).leaseUntil).toBeNull();
    // Recovery voided the first attempt's grant, unused, before it ran the request again.
    expect((await grantRow(claims(executions.get('w-unknown')![0]!.grant).jti)).expiresAt).toEqual(new Date(0));
    // Recorded as reconciled by proof, not by asking the connector, with the new attempt's claim after it.
    const kinds = (await audit({ requestId: view.id })).map((e) => e.kind);
    expect((await audit({ requestId: view.id, kind: 'execution.reconciled' })).map((e) => e.data)).toEqual([
      { answer: 'not_happened', proof: 'no grant for it was ever used, and the unused ones are void' },
    ]);
    const rerun = ['execution.reconciled', 'grant.minted', 'execution.started', 'execution.unknown'];
    expect(kinds).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.unknown', ...rerun]);
  });

  // What an upstream answers is its own text (a ticket's title, a downstream MCP server's output): it may hold what the
  // database cannot store. A write that ran must still be recorded as done, or the agent, told it failed, runs it again.
  it('records an outcome holding a NUL or a lone surrogate as it happened, with U+FFFD in their place: a done write stays done', async () => {
    const hostile = { data: { title: 'a\u0000b', lone: '\ud800x', ok: '😀' }, text: 'a\u0000b' };
    const replaced = { data: { title: 'a\ufffdb', lone: '\ufffdx', ok: '😀' }, text: 'a\ufffdb' };
    scripts.set('w-nul', consumeThen(() => hostile));
    scripts.set('r-nul', consumeThen(() => hostile));
    for (const key of ['w-nul-error', 'r-nul-error']) {
      scripts.set(key, consumeThen(() => {
        throw new KernelError('upstream_error', 'upstream said \u0000 and \udc00');
      }));
    }
    for (const [tool, key] of [['spy_write', 'w-nul'], ['spy_read', 'r-nul']] as const) {
      const view = await submit(tool, key);
      expect(view).toMatchObject({ state: 'succeeded', result: replaced, error: null });
      expect(await stored(view.id)).toEqual(view);
      expect((await audit({ requestId: view.id })).at(-1)).toMatchObject({ kind: 'execution.succeeded', data: replaced });
      expect(executions.get(key)).toHaveLength(1);
    }
    for (const [tool, key] of [['spy_write', 'w-nul-error'], ['spy_read', 'r-nul-error']] as const) {
      const failed = await submit(tool, key);
      expect(failed).toMatchObject({ state: 'failed', error: { code: 'upstream_error', message: 'upstream said \ufffd and \ufffd' } });
      expect((await audit({ requestId: failed.id })).at(-1)).toMatchObject({ kind: 'execution.failed', data: { message: 'upstream said \ufffd and \ufffd' } });
    }
  });

  it('records a write that ran as done even when its answer cannot be recorded, saying so: never as failed', async () => {
    // Nested past what JSON.stringify, JCS and PostgreSQL's jsonb can take: before, the write was recorded as failed
    // ("Maximum call stack size exceeded"), and the agent told so ran it again.
    let deep: Json = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    scripts.set('w-deep', consumeThen(() => ({ data: { deep }, text: 'deep' })));
    // An answer the database itself refuses (a trigger here) is recorded without it too.
    scripts.set('w-refused-answer', consumeThen(() => ({ data: { note: 'refuse this answer' }, text: 'ok' })));
    await k.database.db.execute(sql.raw(`create or replace function refuse_answer() returns trigger language plpgsql as $$
      begin if new.result->'data'->>'note' = 'refuse this answer' then raise exception 'answer refused'; end if; return new; end $$`));
    await k.database.db.execute(sql`create trigger refuse_answer before update on requests for each row execute function refuse_answer()`);
    try {
      for (const [key, why] of [['w-deep', /\(internal error: Maximum call stack size exceeded: a value \(most often an upstream answer\) is nested too deeply to serialize or store\)/], ['w-refused-answer', /\(internal error: answer refused\)/]] as const) {
        const view = await submit('spy_write', key);
        expect(view).toMatchObject({ state: 'succeeded', error: null, result: { data: {}, text: expect.stringMatching(/^It ran, but its answer could not be recorded \(/) } });
        expect((view.result as { text: string }).text).toMatch(why);
        expect(await stored(view.id)).toEqual(view);
        expect((await audit({ requestId: view.id })).map((e) => e.kind)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.succeeded']);
        expect(executions.get(key)).toHaveLength(1);
      }
    } finally {
      await k.database.db.execute(sql`drop trigger refuse_answer on requests`);
    }
  });

  it('records a read whose answer is nested too deeply to store as failed, saying why in words, with no answer', async () => {
    let deep: Json = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    scripts.set('r-deep', consumeThen(() => ({ data: { deep }, text: 'deep' })));
    const view = await submit('spy_read', 'r-deep');
    const error = { code: 'internal', message: 'internal error: Maximum call stack size exceeded: a value (most often an upstream answer) is nested too deeply to serialize or store' };
    expect(view).toMatchObject({ state: 'failed', result: null, error });
    expect(await stored(view.id)).toEqual(view);
    expect((await audit({ requestId: view.id })).at(-1)).toMatchObject({ kind: 'execution.failed', data: error });
  });

  it('records an allowed write whose executor refused before consuming its grant as failed, the grant retired unused', async () => {
    let grant = '';
    let digest = '';
    scripts.set('w-refuses', async (m) => {
      [grant, digest] = [m.grant, m.digest];
      // Nothing is recorded before the executor consumes the grant.
      expect(await k.database.db.select().from(schema.requests).where(eq(schema.requests.id, m.body.requestId))).toEqual([]);
      throw new KernelError('pin_drift', 'upstream moved since approval; nothing was executed');
    });
    const view = await submit('spy_write', 'w-refuses');
    expect(view).toMatchObject({ state: 'failed', error: { code: 'pin_drift', message: 'upstream moved since approval; nothing was executed' } });
    const { jti } = claims(grant);
    const row = await grantRow(jti);
    expect(row).toMatchObject({ requestId: view.id, digest, consumedAt: null });
    expect(row.expiresAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await consume(jti, digest)).toBe('grant_expired');
    expect((await audit({ requestId: view.id })).map((e) => e.kind)).toEqual(['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.failed']);
  });

  it('records an allowed write with its claim when its grant is consumed, once: a second consumption is refused', async () => {
    scripts.set('w-twice', async (m) => {
      const { jti } = claims(m.grant);
      expect(await consume(jti, m.digest)).toBe('consumed');
      expect(await requestRow(m.body.requestId)).toMatchObject({ state: 'executing', attempt: 1 });
      expect(await grantRow(jti)).toMatchObject({ consumedAt: expect.any(Date) });
      expect(await consume(jti, m.digest)).toBe('grant_consumed');
      return { data: { written: true }, text: 'written' };
    });
    const view = await submit('spy_write', 'w-twice');
    expect(view.state).toBe('succeeded');
    expect((await audit({ kind: 'grant.consumed' })).filter((e) => (e.data as JsonObject).jti === claims(executions.get('w-twice')![0]!.grant).jti)).toHaveLength(1);
  });

  it('records a conflict, not an outcome, when the executing replica lost its lease meanwhile', async () => {
    scripts.set('w-lease-lost', async (m) => {
      expect(await consume(claims(m.grant).jti, m.digest)).toBe('consumed');
      // Another replica took the request over (its lease had lapsed): a new owner and attempt.
      await k.database.db.update(schema.requests).set({ leaseOwner: 'another-replica', attempt: 2 }).where(eq(schema.requests.id, m.body.requestId));
      return { data: { written: true }, text: 'written' };
    });
    const view = await submit('spy_write', 'w-lease-lost');
    expect(view.state).toBe('executing');
    const last = (await audit({ requestId: view.id })).at(-1)!;
    expect(last).toMatchObject({ kind: 'execution.conflict', actor: 'kernel', data: { attempt: 1, refused: 'succeeded', outcome: { data: { written: true } } } });
    expect((last.data as JsonObject).owner).not.toBe('another-replica');
  });
});

describe('recovery', () => {
  /** An executor that used its grant and then lost the answer. */
  const usedThenLost = async (m: Execute) => {
    expect(await consume(claims(m.grant).jti, m.digest)).toBe('consumed');
    throw new KernelError('upstream_unknown', 'the answer was lost');
  };

  it('asks the connector about a lapsed execution whose grant was used: happened, cannot tell, or try again later', async () => {
    for (const key of ['rc-happened', 'rc-cannot-tell', 'rc-broken']) scripts.set(key, usedThenLost);
    // What reconcile read upstream may hold what the database cannot store, as an execution's answer may.
    reconciles.set('rc-happened', async () => ({ answer: 'happened', result: { data: { found: true }, text: 'found \u0000' } }));
    reconciles.set('rc-cannot-tell', async () => ({ answer: 'cannot_tell', why: 'the note has no marker', check: 'the notes page' }));
    reconciles.set('rc-broken', async () => {
      throw new KernelError('upstream_error', 'the notes API is down\u0000');
    });
    const views = await Promise.all(['rc-happened', 'rc-cannot-tell', 'rc-broken'].map((key) => submit('spy_write', key)));
    expect(views.map((v) => v.state)).toEqual(['unknown', 'unknown', 'unknown']);
    const woken = published.length;
    await pastLeases(views.map((v) => v.id));
    await k.kernel.recover();
    // Held calls on the two it settled are woken (and other replicas told), not left to the once-a-second look.
    expect(published.slice(woken)).toEqual(expect.arrayContaining([views[0]!.id, views[1]!.id]));
    const [happened, cannotTell, broken] = await Promise.all(views.map((v) => k.admin.send<JsonObject>('kernel', { op: 'request.get', requestId: v.id })));
    expect(happened).toMatchObject({ state: 'succeeded', result: { data: { found: true }, text: 'found \ufffd' } });
    // The attempt recorded its own unknown outcome; taking the lapsed lease of a request already unknown adds none.
    const attempt = ['request.received', 'policy.decided', 'grant.minted', 'execution.started', 'execution.unknown'];
    expect((await audit({ requestId: views[0]!.id })).map((e) => e.kind)).toEqual([...attempt, 'execution.reconciled', 'execution.succeeded']);
    const message = 'This may or may not have run: the note has no marker. Check the notes page, then its owner chooses Mark as done or Run again.';
    expect(cannotTell).toMatchObject({ state: 'unknown', error: { code: 'outcome_unknown', message, check: 'the notes page' } });
    expect((await requestRow(views[1]!.id)).leaseUntil).toBeNull();
    expect(broken).toMatchObject({ state: 'unknown', error: { code: 'upstream_unknown' } });
    expect((await audit({ requestId: views[2]!.id })).at(-1)).toMatchObject({ kind: 'execution.reconcile_failed', data: { code: 'upstream_error', message: 'the notes API is down\ufffd' } });
    expect((await requestRow(views[2]!.id)).leaseUntil!.getTime()).toBeGreaterThan(Date.now()); // leased: it lapses and is tried again
    // Tried again once that lease lapses: still unknown, and 'execution.unknown' was said once, when it stopped executing.
    await k.database.db.update(schema.requests).set({ leaseUntil: new Date(Date.now() - 1000) }).where(eq(schema.requests.id, views[2]!.id));
    await k.kernel.recover();
    expect((await audit({ requestId: views[2]!.id })).filter((e) => e.kind === 'execution.unknown')).toHaveLength(1);
    expect((await audit({ requestId: views[2]!.id })).filter((e) => e.kind === 'execution.reconcile_failed')).toHaveLength(2);
    // Reconcile looks for the same marker the execution left upstream, and nothing ran twice.
    expect(markers.get('rc-happened')).toBe(executions.get('rc-happened')![0]!.marker);
    expect(markers.get('rc-happened')).toMatch(/^cs1-/);
    expect(['rc-happened', 'rc-cannot-tell', 'rc-broken'].map((key) => executions.get(key)!.length)).toEqual([1, 1, 1]);
  });

  it('takes over an execution whose lease lapsed mid-call, and the late outcome of the first owner is a conflict', async () => {
    scripts.set('rc-lapsed', async (m) => {
      expect(await consume(claims(m.grant).jti, m.digest)).toBe('consumed');
      await k.database.db.update(schema.requests).set({ leaseUntil: new Date(Date.now() - 60_000) }).where(eq(schema.requests.id, m.body.requestId));
      // A periodic recovery already under way may have looked before the lease lapsed: then the next one takes it.
      for (let i = 0; i < 3 && (await requestRow(m.body.requestId)).state === 'executing'; i++) await k.kernel.recover();
      return { data: { late: true }, text: 'late' };
    });
    reconciles.set('rc-lapsed', async () => ({ answer: 'happened', result: { data: { found: true }, text: 'found' } }));
    const view = await submit('spy_write', 'rc-lapsed');
    expect(view).toMatchObject({ state: 'succeeded', result: { data: { found: true } } });
    const entries = await audit({ requestId: view.id });
    const owner = entries.find((e) => e.kind === 'execution.started')!.data as JsonObject;
    expect(entries.slice(-4).map((e) => e.kind)).toEqual(['execution.unknown', 'execution.reconciled', 'execution.succeeded', 'execution.conflict']);
    expect(entries.at(-4)!.data).toEqual({ reason: 'its lease lapsed', previousOwner: owner.owner, attempt: 1, grantsUsed: 1 });
    expect(entries.at(-1)!.data).toMatchObject({ refused: 'succeeded', outcome: { data: { late: true } } });
  });

  it('leaves what no connector here serves to a replica that has it: an orphaned approval stays approved, a lapsed execution stays as it was', async () => {
    const [orphan, lapsed] = await Promise.all([submit('spy_write', 'held-elsewhere'), submit('spy_write', 'held-lapsed-elsewhere')]);
    // A tool this process has no connector for (another replica serves it).
    const elsewhere = { tool: 'spy_elsewhere', updatedAt: new Date(Date.now() - 3600_000) };
    await k.database.db.update(schema.requests).set({ ...elsewhere, state: 'approved' }).where(eq(schema.requests.id, orphan.id));
    await k.database.db.update(schema.requests).set({ ...elsewhere, state: 'executing', leaseOwner: 'gone', leaseUntil: new Date(Date.now() - 60_000) }).where(eq(schema.requests.id, lapsed.id));
    await k.kernel.recover();
    expect((await requestRow(orphan.id)).state).toBe('approved');
    expect(await requestRow(lapsed.id)).toMatchObject({ state: 'executing', leaseOwner: 'gone' });
    expect((await audit({ requestId: lapsed.id })).map((e) => e.kind)).toEqual(['request.received', 'policy.decided']);
  });

  it('runs an approved request that no replica picked up, and leaves one just approved to the replica that approved it', async () => {
    const [orphan, fresh] = await Promise.all([submit('spy_write', 'held-orphan'), submit('spy_write', 'held-fresh')]);
    const approve = (id: string, updatedAt: Date) => k.database.db.update(schema.requests).set({ state: 'approved', updatedAt }).where(eq(schema.requests.id, id));
    await approve(orphan.id, new Date(Date.now() - 3600_000));
    await approve(fresh.id, new Date());
    await k.kernel.recover();
    expect((await requestRow(orphan.id)).state).toBe('succeeded');
    expect((await requestRow(fresh.id)).state).toBe('approved');
    expect(executions.has('held-fresh')).toBe(false);
    // A claim taken after the submission (approval, recovery) says whose lease it is and which attempt, as one at submit does.
    const started = (await audit({ requestId: orphan.id })).find((e) => e.kind === 'execution.started');
    expect(started?.data).toEqual({ tool: 'spy_write', owner: expect.any(String), attempt: 1 });
  });
});
