import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from './store/db.ts';
import { requests } from './store/schema.ts';
import type { Envelope, Router } from './router.ts';
import { CAPABILITIES } from './capabilities.ts';
import { KernelError } from './errors.ts';
import type { KernelMessage, RequestView } from './messages.ts';
import { FINAL_STATES, type Json, type JsonObject, type RequestRecord } from './types.ts';
import type { ToolInfo } from './connector.ts';
import type { KernelContext } from './context.ts';
import { createDirectory } from './directory.ts';
import { createRequestStore } from './requests.ts';
import type { AuditLog } from './audit/log.ts';
import type { CompiledPolicy } from './policy/index.ts';
import { consumeGrant, type KernelKeys } from './grants.ts';
import { updatePasskeyCounter } from './evidence.ts';
import { consumeHeld, execute, move, run, submit, type Claim } from './flow.ts';
import { recover } from './recover.ts';
import { challenge, decide, expireDue, inbox } from './decide.ts';
import { effectiveRoles, mayView } from './approvals.ts';

/** Wake-ups across replicas (LISTEN/NOTIFY on PostgreSQL); in one process, none are needed. */
export type Signals = { publish(requestId: string): Promise<void>; subscribe(onRequest: (requestId: string) => void): Promise<() => Promise<void>> };

export interface KernelOptions {
  db: Db;
  /**
   * The same database through connections whose commits do not wait for the disk (PostgreSQL's synchronous_commit
   * off), for a read's record only: the read is done before it is recorded, so a crash could always lose it. All else
   * stays synchronous (flow.ts); later synchronous commits flush the WAL first, so no checkpoint covers a loss.
   */
  asyncCommitDb?: Db;
  router: Router;
  audit: AuditLog;
  keys: KernelKeys;
  policy: () => CompiledPolicy;
  roles: () => Readonly<Record<string, readonly string[]>>;
  /** Origin of the approval web app: passkey assertions must come from it; approval links point at it. */
  publicUrl: string;
  signals?: Signals;
  grantTtlSeconds?: number;
  /** How often pending approvals are checked for expiry. */
  sweepMs?: number;
  /** Execution lease (default 30 s); keep it above the connectors' upstream timeouts. Recovery runs every half lease. */
  leaseMs?: number;
  /** The lease owner's name; default host:pid:random, unique per process. */
  replicaId?: string;
  now?: () => Date;
}

export interface Kernel {
  /** Re-reads which connector serves which tool (after connectors register). */
  refreshTools(): Promise<ToolInfo[]>;
  /** Finishes requests a crash left mid-execution. */
  recover(): Promise<number>;
  close(): Promise<void>;
}


export async function createKernel(options: KernelOptions): Promise<Kernel> {
  const waiters = new Map<string, Set<() => void>>();
  const toolIndex = new Map<string, string>();
  const reads = new Set<string>();
  let tools: ToolInfo[] = [];
  const wakeLocal = (id: string) => waiters.get(id)?.forEach((resolve) => resolve());

  const ctx: KernelContext = {
    ...options,
    port: options.router.register('kernel', (envelope) => handle(envelope), CAPABILITIES.kernel),
    directory: createDirectory(options.db),
    store: createRequestStore(options.db),
    rpId: new URL(options.publicUrl).hostname,
    grantTtlSeconds: options.grantTtlSeconds ?? 60,
    replicaId: options.replicaId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    leaseMs: options.leaseMs ?? 30_000,
    now: options.now ?? (() => new Date()),
    connectorFor: (tool) => toolIndex.get(tool) ?? null,
    readOnly: (tool) => reads.has(tool),
    heldGrants: new Map(),
    wake(id) {
      wakeLocal(id);
      void options.signals?.publish(id).catch(() => {});
    },
  };
  // Signals name a request to wake, or `agent:<id>` when another replica revoked that agent.
  const unsubscribe = await options.signals?.subscribe((id) => (id.startsWith('agent:') ? ctx.directory.forget(id.slice(6)) : wakeLocal(id)));

  // A link while a human is asked something: to approve a pending request, or to say whether an unknown one ran.
  const asking = (record: RequestRecord) => record.state === 'pending' || (record.state === 'unknown' && record.error?.code === 'outcome_unknown');
  const approvalUrl = (record: RequestRecord) => (asking(record) ? `${ctx.publicUrl.replace(/\/$/, '')}/requests/${record.id}` : null);
  const view = (record: RequestRecord): RequestView => ({ ...record, approvalUrl: approvalUrl(record) });
  const mine = (record: RequestRecord, agentId: string | null) => {
    if (agentId && record.body.principal.agentId !== agentId) throw new KernelError('unknown_request', `no request ${record.id} for this agent`);
    return record;
  };

  /** Holds until the request reaches a final state or `waitMs` passes; returns the request as it is then. */
  async function awaitRequest(requestId: string, agentId: string | null, waitMs: number): Promise<RequestView> {
    const deadline = Date.now() + Math.min(Math.max(waitMs, 0), 300_000);
    for (;;) {
      const record = mine(await ctx.store.get(requestId), agentId);
      const left = deadline - Date.now();
      if (FINAL_STATES.includes(record.state) || left <= 0) return view(record);
      await new Promise<void>((resolve) => {
        const set = waiters.get(requestId) ?? new Set();
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) waiters.delete(requestId);
          resolve();
        };
        // Woken by a state change (here or, via signals, on another replica; the sweeper's expiries too), by the
        // safety net below, or at the deadline.
        const timer = setTimeout(done, left);
        set.add(done);
        waiters.set(requestId, set);
      });
    }
  }

  async function afterSubmit({ record, claim }: { record: RequestRecord; claim: Claim | null }, call: string | null): Promise<RequestView> {
    if (claim) {
      const finished = await run(ctx, claim, false, call);
      // An allowed request carries no decisions, so records() builds it from the finished row without another query.
      return view(finished ? (await ctx.store.records([finished]))[0]! : await ctx.store.get(record.id));
    }
    if (record.state === 'pending' && options.router.endpoints().includes('notifier')) {
      void ctx.port
        .send('notifier', { op: 'approval.requested', requestId: record.id, summary: record.intent.summary, url: view(record).approvalUrl })
        .catch(() => {});
    }
    return view(record);
  }

  async function handle(envelope: Envelope): Promise<Json> {
    const m = envelope.body as KernelMessage;
    switch (m.op) {
      case 'agent.add': {
        // `existing`: an OAuth connection made into an active agent the consenting approver already owns.
        const own = m.existing ? await ctx.directory.principalByName(m.name) : null;
        if (m.existing && own?.owner.toLowerCase() !== m.owner.toLowerCase()) throw new KernelError('unknown_agent', `${m.owner} owns no active agent named "${m.name}"`);
        const { agent, token } = own ? { agent: { id: own.agentId, name: own.agentName, owner: own.owner }, token: null } : await ctx.directory.addAgent(m.name, m.owner);
        await ctx.audit.append([{ kind: own ? 'agent.connected' : 'agent.added', requestId: null, actor: m.by ? `${envelope.from}:approver:${m.by}` : envelope.from, data: { name: agent.name, owner: agent.owner, ...(m.client ? { client: m.client } : {}) } }]);
        return { agent: { ...agent }, token };
      }
      case 'agent.list':
        return asJson(await ctx.directory.listAgents());
      case 'agent.revoke':
        return asJson(await revoke(m.name, m.by ? `${envelope.from}:approver:${m.by}` : envelope.from));
      case 'agent.authenticate': {
        const principal = await ctx.directory.authenticate(m.token);
        if (!principal) noteRefusal('auth.failed', envelope.from, 'invalid or revoked agent token');
        return asJson(principal);
      }
      case 'edge.refused':
        noteRefusal(`edge.refused.${m.what.replace(/[^a-z_]/g, '')}`, envelope.from, m.detail);
        return true;
      case 'agent.resolve':
        return asJson(await ctx.directory.principalByName(m.name));
      case 'tools.list':
        return asJson(tools);
      case 'request.submit':
        return asJson(await afterSubmit(await submit(ctx, m.agentId, m.tool, m.args, m.call ?? null), m.call ?? null));
      case 'request.await':
        return asJson(await awaitRequest(m.requestId, m.agentId, m.waitMs));
      case 'request.get':
        return asJson(view(await ctx.store.get(m.requestId)));
      case 'request.view': {
        const [record, approver] = await Promise.all([ctx.store.get(m.requestId), ctx.directory.getApprover({ approverId: m.approverId })]);
        if (!approver || !mayView(record, approver, ctx.roles())) throw new KernelError('unknown_request', `no request ${m.requestId} that you may see`);
        return asJson(view(record));
      }
      case 'request.list':
        return asJson((await ctx.store.list({ agentId: m.agentId, limit: m.limit })).map(view));
      case 'request.cancel':
        return asJson(await cancel(m.requestId, m.agentId, m.reason, envelope.from));
      case 'approver.upsert':
        return asJson(await ctx.directory.upsertApprover(m.email, m.roles));
      case 'approver.roles': {
        const { before, after } = await ctx.directory.changeRoles(m.email, m.grant, m.revoke);
        const data = { email: after.email, before, after: after.roles };
        if (before.join() !== after.roles.join()) await ctx.audit.append([{ kind: 'approver.roles.changed', requestId: null, actor: envelope.from, data }]);
        return asJson(after);
      }
      case 'approver.get': {
        const approver = await ctx.directory.getApprover({ email: m.email, approverId: m.approverId });
        return asJson(approver && { ...approver, effectiveRoles: effectiveRoles(approver, ctx.roles()) });
      }
      case 'passkey.add': {
        await ctx.directory.addPasskey(m.approverId, m.credential);
        // Enrollment is in the log, so an auditor can tie an approval's signature to its approver with no database.
        const email = (await ctx.directory.getApprover({ approverId: m.approverId }))?.email ?? null;
        const data = { credentialId: m.credential.id, approverId: m.approverId, email, publicKey: m.credential.publicKey };
        await ctx.audit.append([{ kind: 'passkey.enrolled', requestId: null, actor: envelope.from, data }]);
        return true;
      }
      case 'passkey.lookup':
        return asJson(await ctx.directory.lookupPasskey(m.credentialId));
      case 'passkey.touch':
        return updatePasskeyCounter(ctx.db, m.credentialId, m.oldCounter, m.newCounter);
      case 'passkey.remove':
        await ctx.directory.removePasskey(m.credentialId, m.approverId);
        await ctx.audit.append([{ kind: 'passkey.removed', requestId: null, actor: envelope.from, data: { credentialId: m.credentialId, approverId: m.approverId } }]);
        return true;
      case 'device.add': {
        const device = await ctx.directory.addDevice(m.approverId, m.name, m.publicJwk);
        const data = { deviceId: device.id, approverId: device.approverId, name: device.name, x: device.publicJwk.x };
        await ctx.audit.append([{ kind: 'device.paired', requestId: null, actor: envelope.from, data }]);
        return asJson(device);
      }
      case 'device.list':
        return asJson(await ctx.directory.listDevices(m.approverId));
      case 'device.remove': {
        const device = await ctx.directory.removeDevice(m.deviceId, m.approverId);
        const actor = `${envelope.from}:approver:${m.approverId}`;
        await ctx.audit.append([{ kind: 'device.removed', requestId: null, actor, data: { deviceId: device.id, name: device.name } }]);
        return asJson(device);
      }
      case 'device.lookup':
        return asJson(await ctx.directory.lookupDevice(m.deviceId));
      case 'approval.inbox':
        return asJson((await inbox(ctx, m.approverId)).map(view));
      case 'approval.challenge':
        return asJson(await challenge(ctx, m.requestId, m.decision, m.approverId, m.reason ?? null));
      case 'approval.decide': {
        const { record, approved, claim } = await decide(ctx, m.requestId, m.decision, m.reason, m.evidence);
        // Execution starts now but is not awaited: the approver's page answers at once, the agent gets the result.
        if (approved) track(execute(ctx, record.id));
        if (claim) track(run(ctx, claim).then(() => {}));
        return asJson(view(record));
      }
      case 'grant.consume':
        // A running read's grant is consumed in memory and audited with its record; an allowed write's records its claim.
        if (await consumeHeld(ctx, m.jti, m.digest, envelope.from)) return true;
        // Consumed and audited in one statement: a grant is never used without a record of it.
        await consumeGrant(ctx.db, m, ctx.audit.queued([{ kind: 'grant.consumed', requestId: null, actor: envelope.from, data: { jti: m.jti, digest: m.digest } }]));
        return true;
      default:
        throw new KernelError('bad_request', `unknown kernel op "${(m as { op: string }).op}"`);
    }
  }

  /**
   * Revokes an agent and, in the same transaction, cancels its requests that have not started (pending, allowed,
   * approved): nothing it asked for runs after its revocation. Held calls are woken and told why.
   */
  async function revoke(name: string, actor: string) {
    const { agent, cancelled } = await ctx.db.transaction(async (tx) => {
      const agent = await createDirectory(tx).revokeAgent(name);
      const error = { code: 'agent_revoked', message: `agent ${agent.name} was revoked, so this request was cancelled and not executed` };
      const notStarted = and(eq(requests.agentId, agent.id), inArray(requests.state, ['pending', 'allowed', 'approved']));
      const cancelled = await tx.update(requests).set({ state: 'cancelled', error, updatedAt: new Date() }).where(notStarted).returning({ id: requests.id });
      const entries = cancelled.map(({ id }) => ({ kind: 'request.cancelled', requestId: id, actor, data: { reason: error.message } }));
      await ctx.audit.append([{ kind: 'agent.revoked', requestId: null, actor, data: { name: agent.name, cancelled: cancelled.length } }, ...entries], tx);
      return { agent, cancelled };
    });
    ctx.directory.forget(agent.id);
    void options.signals?.publish(`agent:${agent.id}`).catch(() => {});
    cancelled.forEach(({ id }) => ctx.wake(id));
    return agent;
  }

  async function cancel(requestId: string, agentId: string | null, reason: string | null, from: string): Promise<RequestView> {
    const record = mine(await ctx.store.get(requestId), agentId);
    if (!(await move(ctx, requestId, 'pending', 'cancelled', { kind: 'request.cancelled', actor: from, data: { reason } }))) throw new KernelError('not_pending', `request ${requestId} is ${record.state}; only a pending request can be cancelled`);
    ctx.wake(requestId);
    return view(await ctx.store.get(requestId));
  }

  // Refusals at the edges (bad tokens, cross-site posts) are audited as one entry per kind and second with a count,
  // so a flood cannot flood the chain. Tokens and bodies are never recorded.
  const refusals = new Map<string, { count: number; since: string; from: string; detail: string }>();
  function noteRefusal(kind: string, from: string, detail: string) {
    const seen = refusals.get(kind);
    if (seen) return void seen.count++;
    refusals.set(kind, { count: 1, since: ctx.now().toISOString(), from, detail: detail.slice(0, 200) });
    setTimeout(() => {
      const noted = refusals.get(kind)!;
      refusals.delete(kind);
      void ctx.audit.append([{ kind, requestId: null, actor: noted.from, data: { ...noted } }]).catch(() => {});
    }, 1000).unref();
  }

  // Executions started after an approval run in the background; close() waits for them, and a failure (say, the
  // database going away at shutdown) is audited where possible and never becomes an unhandled rejection.
  const inflight = new Set<Promise<void>>();
  function track(work: Promise<void>) {
    const settled = work.catch(() => {}).finally(() => inflight.delete(settled));
    inflight.add(settled);
  }

  const sweeper = setInterval(() => void expireDue(ctx).catch(() => {}), options.sweepMs ?? 1000).unref();
  // The safety net for a missed wake-up: one look a second for all held calls, waking those whose request finished.
  const net = setInterval(() => {
    if (waiters.size === 0) return;
    const finished = and(inArray(requests.id, [...waiters.keys()]), inArray(requests.state, [...FINAL_STATES]));
    void ctx.db.select({ id: requests.id }).from(requests).where(finished).then((rows) => rows.forEach(({ id }) => wakeLocal(id)), () => {});
  }, 1000).unref();
  // Recovery runs on every replica; leases make sure it only takes what nobody is working on.
  let recovering: Promise<number> | null = null;
  const recoverOnce = () => (recovering ??= recover(ctx).finally(() => (recovering = null)));
  const recoverer = setInterval(() => void recoverOnce().catch(() => {}), ctx.leaseMs / 2).unref();

  return {
    async refreshTools() {
      const connectors = options.router.endpoints().filter((name) => name.startsWith('connector.'));
      const lists = await Promise.all(connectors.map((name) => ctx.port.send<ToolInfo[] & Json>(name, { op: 'tools.list' })));
      toolIndex.clear();
      reads.clear();
      lists.forEach((list, i) => list.forEach((tool) => toolIndex.set(tool.name, connectors[i]!)));
      tools = lists.flat() as ToolInfo[];
      tools.forEach((tool) => tool.impact === 'read' && reads.add(tool.name));
      return tools;
    },
    recover: () => recoverOnce(),
    async close() {
      clearInterval(sweeper);
      clearInterval(net);
      clearInterval(recoverer);
      await recovering?.catch(() => 0);
      await Promise.allSettled([...inflight]);
      await unsubscribe?.();
    },
  };
}

/** Kernel records are plain JSON by construction; this only tells TypeScript so. */
const asJson = (value: object | null): Json => value as unknown as Json;
