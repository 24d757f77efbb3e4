import { describe, expect, it } from 'vitest';
import { jcs, type Db, type IntegratedEntry, type Json } from '../../kernel/index.ts';
import { createOperatorFeed } from '../../gateway/operator/feed.ts';
import type { Logger } from '../../gateway/operator/log.ts';
import type { OperatorMetrics } from '../../gateway/operator/metrics.ts';

/**
 * The operator feed hears each batch the sequencer integrated from the sequencer itself (the entries it hashed), so a
 * batch costs no query. The feed on a real server, with a request begun before a restart (read from the database):
 * test/integration/operator.test.ts.
 */

const at = (ms: number) => new Date(Date.UTC(2026, 10, 29, 3, 0, 0, ms)).toISOString();
const entry = (seq: number, kind: string, data: Json, ms = seq): IntegratedEntry =>
  ({ seq, at: at(ms), kind, requestId: 'req_1', actor: 'kernel', dataJcs: jcs(data), hash: 'ab'.repeat(32) });

function heard() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) => lines.push({ level, fields, message });
  const log = { info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger;
  const calls: unknown[][] = [];
  const metrics = {
    policyDecision: (...args: unknown[]) => calls.push(['policyDecision', ...args]),
    approverDecision: (...args: unknown[]) => calls.push(['approverDecision', ...args]),
    finished: (...args: unknown[]) => calls.push(['finished', ...args]),
    approvalWaited: (...args: unknown[]) => calls.push(['approvalWaited', ...args]),
  } as unknown as OperatorMetrics;
  // Any use of the database fails the batch, which the feed logs as missed.
  const db = new Proxy({}, { get: (_, key) => { throw new Error(`the feed used the database (${String(key)})`); } }) as Db;
  return { feed: createOperatorFeed({ db, publicUrl: 'https://cs.example/', log, metrics }), lines, calls };
}

describe('the operator feed', () => {
  it("logs and counts a batch's entries as the sequencer hands them over, in order, reading nothing back", async () => {
    const { feed, lines, calls } = heard();
    const body = { tool: 'github_get_repo', principal: { agentName: 'bot' } };
    feed.onBatch([
      { ...entry(7, 'request.received', { body, intent: { summary: 'Read acme/web' } }), actor: 'agent:a1' },
      entry(8, 'policy.decided', { decision: 'allow', ruleId: 'reads' }),
    ]);
    feed.onBatch([entry(9, 'execution.started', {}), entry(10, 'execution.succeeded', {}, 250)]);
    await feed.settled();
    expect(lines.map((l) => [l.level, l.fields.event, l.message])).toEqual([
      ['info', 'request.submitted', 'bot asked for github_get_repo: Read acme/web'],
      ['info', 'request.allowed', 'github_get_repo allowed by policy (rule reads)'],
      ['info', 'request.executing', 'github_get_repo executing'],
      ['info', 'request.succeeded', 'github_get_repo succeeded'],
    ]);
    expect(calls).toEqual([['policyDecision', 'allow'], ['finished', 'github_get_repo', 'allow', 'succeeded', 0.243]]);
  });

  it('logs a held request with its link and data whose text JSON escapes, as it was hashed', async () => {
    const { feed, lines } = heard();
    feed.onBatch([
      entry(1, 'request.received', { body: { tool: 't"1', principal: {} }, intent: { summary: 'Pay "Jane" é\u202e' } }),
      entry(2, 'policy.decided', { decision: 'approve', ruleId: 'r', reason: 'money' }),
    ]);
    await feed.settled();
    expect(lines.map((l) => l.message)).toEqual(['kernel asked for t"1: Pay "Jane" é\u202e', 't"1 waits for approval: https://cs.example/requests/req_1']);
    expect(lines[1]!.fields).toMatchObject({ event: 'request.held', rule: 'r', reason: 'money', url: 'https://cs.example/requests/req_1' });
  });
});
