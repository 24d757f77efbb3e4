import type { Cluster } from './cluster.ts';

/**
 * What must hold after the load, whatever the timings: every call left exactly one request, each in a final state;
 * the audit log has no gap (every entry integrated, seqs 1..N without a hole, every request's final state audited)
 * and `countersign audit verify` passes; the sandboxes accepted exactly one write per succeeded write request and
 * none twice.
 */

export const WRITE_TOOLS = ['github_create_issue', 'github_create_issue_comment'];
/** The audit entry that records each final state. */
const FINAL_KIND: Record<string, string> = { succeeded: 'execution.succeeded', failed: 'execution.failed', denied: 'policy.decided', rejected: 'approval.rejected' };

export interface Checked {
  requests: number;
  byState: Record<string, number>;
  auditEntries: number;
  /** Holes in the seqs, entries never integrated, requests without their final state's entry. */
  auditGaps: number;
  auditVerified: boolean;
  auditVerifyMessage: string;
  succeededWrites: number;
  upstreamEffects: number;
  /** Writes that reached an upstream more than once (same title or comment body), and requests executed twice. */
  duplicates: number;
  problems: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function check(cluster: Cluster, expectedRequests: number): Promise<Checked> {
  const { db } = cluster;
  const problems: string[] = [];
  // The sequencer integrates queued entries within a second; give it a while on a loaded machine.
  let queued = 0;
  for (let i = 0; i < 120; i++) {
    [{ queued }] = (await db.unsafe(`select count(*)::int as queued from audit_queue`)) as unknown as [{ queued: number }];
    if (queued === 0) break;
    await sleep(500);
  }
  if (queued > 0) problems.push(`${queued} audit entries still queued, never integrated into the log`);
  const [seqs] = (await db.unsafe(`select count(*)::int as n, coalesce(min(seq), 1)::int as lo, coalesce(max(seq), 0)::int as hi from audit_entries`)) as unknown as [{ n: number; lo: number; hi: number }];
  const holes = seqs.hi - seqs.lo + 1 - seqs.n + (seqs.lo === 1 ? 0 : seqs.lo - 1);
  if (holes > 0) problems.push(`audit seqs ${seqs.lo}..${seqs.hi} hold ${seqs.n} entries: ${holes} missing`);
  const states = (await db.unsafe(`select state, count(*)::int as n from requests group by state`)) as unknown as { state: string; n: number }[];
  const byState = Object.fromEntries(states.map((s) => [s.state, s.n]));
  const requests = states.reduce((sum, s) => sum + s.n, 0);
  if (requests !== expectedRequests) problems.push(`${expectedRequests} calls made ${requests} requests`);
  for (const s of states) if (!(s.state in FINAL_KIND)) problems.push(`${s.n} requests left ${s.state}`);
  const unaudited = (await db.unsafe(`
    select r.id, r.state from requests r
    where not exists (select 1 from audit_entries e where e.request_id = r.id and e.kind = 'request.received')
       or not exists (select 1 from audit_entries e where e.request_id = r.id and e.kind = case r.state
            ${Object.entries(FINAL_KIND).map(([state, kind]) => `when '${state}' then '${kind}'`).join(' ')} else '' end)`)) as unknown as { id: string; state: string }[];
  if (unaudited.length) problems.push(`${unaudited.length} requests lack their received or final audit entry, e.g. ${unaudited[0]!.id} (${unaudited[0]!.state})`);
  // grant.consumed names the request by its digest; a second consumption for one digest would be a second execution.
  const twice = (await db.unsafe(`
    select coalesce(request_id, data->>'digest') as request, kind, count(*)::int as n from audit_entries
    where kind in ('execution.succeeded', 'grant.consumed')
    group by coalesce(request_id, data->>'digest'), kind having count(*) > 1`)) as unknown as { request: string; kind: string; n: number }[];
  let auditVerified = false;
  let auditVerifyMessage = '';
  try {
    const verified = JSON.parse(await cluster.cli(['audit', 'verify'])) as { ok: boolean };
    auditVerified = verified.ok === true;
    auditVerifyMessage = JSON.stringify(verified).slice(0, 300);
  } catch (error) {
    auditVerifyMessage = (error as Error).message.slice(0, 300);
  }
  if (!auditVerified) problems.push(`audit verify failed: ${auditVerifyMessage}`);

  const [{ n: succeededWrites }] = (await db.unsafe(`select count(*)::int as n from requests where state = 'succeeded' and tool = any($1)`, [WRITE_TOOLS])) as unknown as [{ n: number }];
  const effects = [...cluster.taps.github.effects, ...cluster.taps.stripe.effects];
  // Each write this bench makes carries a unique title or comment body; the same one twice is a duplicate effect.
  const texts = effects.map((e) => {
    const body = JSON.parse(e.body || '{}') as { title?: string; body?: string };
    return `${e.path} ${body.title ?? body.body ?? ''}`;
  });
  const duplicates = texts.length - new Set(texts).size + twice.length;
  if (duplicates) problems.push(`${duplicates} duplicate executions (${twice.length} in the audit log${twice.length ? `, e.g. ${JSON.stringify(twice[0])}` : ''})`);
  if (effects.length !== succeededWrites) problems.push(`${effects.length} upstream effects for ${succeededWrites} succeeded write requests`);
  return {
    requests, byState, auditEntries: seqs.n, auditGaps: holes + queued + unaudited.length, auditVerified, auditVerifyMessage,
    succeededWrites, upstreamEffects: effects.length, duplicates, problems,
  };
}
