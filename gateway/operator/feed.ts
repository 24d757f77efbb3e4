import { readEntries, type AuditEntry, type Db, type IntegratedEntry, type Json, type JsonObject } from '../../kernel/index.ts';
import type { Logger } from './log.ts';
import type { OperatorMetrics } from './metrics.ts';

/**
 * What the operator hears: every request state change, taken from the audit log after the sequencer integrates it,
 * so the kernel needs no hook and nothing is logged that did not happen. Each batch this process's sequencer commits
 * (`onBatch`, from the audit log's onCheckpoint, which hands over the batch's entries) is heard once: replicas sharing
 * a database take turns integrating, so each change is logged and counted once between them, within about a second
 * of its commit. Only a request's earlier entries that another replica integrated are read from the database.
 */
export interface OperatorFeed {
  /** The audit log integrated `entries` (in seq order, data as the JCS text it hashed) in this process. */
  onBatch(entries: readonly IntegratedEntry[]): void;
  /** Resolves once every batch reported so far has been logged and counted (tests, shutdown). */
  settled(): Promise<void>;
}

interface Seen {
  tool: string;
  agent: string;
  decision: string;
  receivedAt: number;
  heldAt: number | null;
}

const FINAL = new Set(['succeeded', 'failed', 'unknown']);
/** Requests remembered at most: another replica may integrate a request's end, so some are never seen to finish. */
const REMEMBERED = 10_000;

export function createOperatorFeed(options: { db: Db; publicUrl: string; log: Logger; metrics: OperatorMetrics }): OperatorFeed {
  const { db, log, metrics } = options;
  const link = (id: string) => `${options.publicUrl.replace(/\/$/, '')}/requests/${encodeURIComponent(id)}`;
  // Requests this process has heard of and not yet seen finish; a request begun before a restart is looked up once.
  const seen = new Map<string, Seen>();
  let work: Promise<void> = Promise.resolve();

  /** A request's tool, agent and decision, from its first entries, when this process did not see them. */
  async function recall(id: string, before: number): Promise<Seen | null> {
    let found: Seen | null = null;
    for await (const entry of readEntries(db, { requestId: id, until: before - 1, pageSize: 50 })) {
      if (entry.kind === 'request.received') found = received(entry);
      else if (entry.kind === 'policy.decided' && found) {
        found.decision = String((entry.data as JsonObject).decision);
        if (found.decision === 'approve') found.heldAt = Date.parse(entry.at);
      } else if (found) break;
    }
    if (found) remember(id, found);
    return found;
  }

  function remember(id: string, request: Seen): void {
    seen.set(id, request);
    if (seen.size > REMEMBERED) seen.delete(seen.keys().next().value!);
  }

  function received(entry: AuditEntry): Seen {
    const body = ((entry.data as JsonObject).body ?? {}) as JsonObject;
    const principal = (body.principal ?? {}) as JsonObject;
    return { tool: String(body.tool ?? '?'), agent: String(principal.agentName ?? entry.actor), decision: '?', receivedAt: Date.parse(entry.at), heldAt: null };
  }

  const since = (from: number, entry: AuditEntry) => Math.max(0, (Date.parse(entry.at) - from) / 1000);

  function finish(id: string, request: Seen, state: string, entry: AuditEntry): void {
    metrics.finished(request.tool, request.decision, state, since(request.receivedAt, entry));
    seen.delete(id);
  }

  async function handle(entry: AuditEntry): Promise<void> {
    const data = (entry.data ?? {}) as JsonObject;
    if (entry.kind === 'policy.changed') {
      log.info({ event: 'policy.reloaded', from: data.from, to: data.to, by: entry.actor, rules: data.rules }, `policy reloaded: version ${String(data.from).slice(0, 12)} -> ${String(data.to).slice(0, 12)} (${entry.actor})`);
      return;
    }
    const id = entry.requestId;
    if (!id) return;
    if (entry.kind === 'request.received') {
      const request = received(entry);
      remember(id, request);
      const summary = ((data.intent ?? {}) as JsonObject).summary;
      log.info({ event: 'request.submitted', requestId: id, tool: request.tool, agent: request.agent, summary }, `${request.agent} asked for ${request.tool}: ${String(summary ?? '')}`);
      return;
    }
    const request = seen.get(id) ?? (await recall(id, entry.seq));
    const tool = request?.tool ?? '?';
    const base = { requestId: id, tool };
    switch (entry.kind) {
      case 'policy.decided': {
        const decision = String(data.decision);
        metrics.policyDecision(decision);
        if (request) request.decision = decision;
        if (decision === 'approve') {
          if (request) request.heldAt = Date.parse(entry.at);
          const url = link(id);
          log.info({ ...base, event: 'request.held', rule: data.ruleId, reason: data.reason, url }, `${tool} waits for approval: ${url}`);
        } else if (decision === 'deny') {
          log.info({ ...base, event: 'request.denied', rule: data.ruleId, reason: data.reason }, `${tool} denied by policy: ${String(data.reason)}`);
          if (request) finish(id, request, 'denied', entry);
        } else log.info({ ...base, event: 'request.allowed', rule: data.ruleId }, `${tool} allowed by policy${data.ruleId ? ` (rule ${String(data.ruleId)})` : ''}`);
        return;
      }
      case 'approval.decided':
      case 'execution.resolved': {
        const outcome = String(data.decision);
        if (entry.kind === 'approval.decided') metrics.approverDecision(outcome);
        log.info({ ...base, event: entry.kind === 'approval.decided' ? 'request.decided' : 'request.resolved', by: data.approver, outcome, reason: data.reason ?? undefined }, `${String(data.approver)} decided ${tool}: ${outcome}`);
        return;
      }
      case 'request.approved':
      case 'request.rejected': {
        const state = entry.kind.slice('request.'.length);
        if (request?.heldAt) metrics.approvalWaited(state, since(request.heldAt, entry));
        log.info({ ...base, event: entry.kind, approvals: data.approvals }, `${tool} ${state}`);
        if (state === 'rejected' && request) finish(id, request, state, entry);
        return;
      }
      case 'execution.started':
        log.info({ ...base, event: 'request.executing' }, `${tool} executing`);
        return;
      case 'request.expired':
      case 'request.cancelled': {
        const state = entry.kind.slice('request.'.length);
        if (request?.heldAt) metrics.approvalWaited(state, since(request.heldAt, entry));
        log.info({ ...base, event: entry.kind, reason: data.reason ?? undefined }, `${tool} ${state}${data.reason ? `: ${String(data.reason)}` : ''}`);
        if (request) finish(id, request, state, entry);
        return;
      }
      default: {
        const state = entry.kind.startsWith('execution.') ? entry.kind.slice('execution.'.length) : '';
        if (!FINAL.has(state)) return;
        const error = state === 'succeeded' ? undefined : ((data.message ?? data.code) as string | undefined);
        const level = state === 'succeeded' ? 'info' : 'warn';
        log[level]({ ...base, event: `request.${state}`, error }, `${tool} ${state}${error ? `: ${error}` : ''}`);
        if (request) finish(id, request, state, entry);
      }
    }
  }

  async function hear(entries: readonly IntegratedEntry[]): Promise<void> {
    for (const { dataJcs, ...entry } of entries) await handle({ ...entry, data: JSON.parse(dataJcs) as Json });
  }

  return {
    onBatch(entries) {
      work = work.then(() => hear(entries)).catch((error: unknown) => log.error({ event: 'operator.feed_failed', error: (error as Error).message }, `the operator log missed an audit batch: ${(error as Error).message}`));
    },
    settled: () => work,
  };
}
