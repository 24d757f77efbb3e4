import type { Json } from '../../kernel/index.ts';
import type { Timeline, TimelineDecision, TimelineEntry } from './reader.ts';
// Display hygiene on every value: bidi and zero-width characters made visible, long values cut with a marker.
import { DataBlock, Inline, Value } from '../views/value.tsx';

/** The request timeline: every chain entry about one request, in seq order, with what each step means. */

type Obj = { [key: string]: Json };
const obj = (value: Json): Obj => (value && typeof value === 'object' && !Array.isArray(value) ? value : {});
const str = (value: Json | undefined): string => (value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value));

const TITLES: Record<string, string> = {
  'request.received': 'Received',
  'policy.decided': 'Policy decided',
  'approval.decided': 'Approver decided',
  'approval.refused': 'Approval refused (evidence did not count)',
  'request.approved': 'Approved (quorum met)',
  'request.rejected': 'Rejected',
  'request.expired': 'Expired (timeout is a rejection)',
  'request.cancelled': 'Cancelled',
  'grant.minted': 'Grant minted',
  'grant.consumed': 'Grant consumed',
  'execution.started': 'Execution started',
  'execution.succeeded': 'Upstream succeeded',
  'execution.failed': 'Upstream failed',
  'execution.unknown': 'Upstream outcome unknown',
};

function Facts(props: { facts: [string, string][] }) {
  const shown = props.facts.filter(([, value]) => value !== '');
  return shown.length === 0 ? null : (
    <dl class="facts">
      {shown.map(([term, value]) => (
        <>
          <dt>{term}</dt>
          <dd>
            <Value text={value} />
          </dd>
        </>
      ))}
    </dl>
  );
}

function details(entry: TimelineEntry): [string, string][] {
  const d = obj(entry.data);
  switch (entry.kind) {
    case 'request.received': {
      const intent = obj(d.intent ?? null);
      const body = obj(d.body ?? null);
      return [['Digest', str(d.digest)], ['Summary', str(intent.summary)], ['Tool', str(body.tool)], ['Arguments', str(body.args)], ['Pins', str(body.pins)]];
    }
    case 'policy.decided':
      return [['Decision', str(d.decision)], ['Rule', str(d.ruleId) || 'default'], ['Why', str(d.reason)], ['Approvers', d.approvers ? str(d.approvers) : '']];
    case 'approval.decided':
      return [
        ['Who', str(d.approver)],
        ['Decision', str(d.decision)],
        ['Reason', str(d.reason)],
        ['Evidence', `${str(d.evidenceKind) === 'device' ? 'paired device' : 'passkey'} ${str(d.keyId)}, verified by the kernel over digest ${str(d.digest).slice(0, 16)}… before it counted`],
      ];
    case 'grant.minted':
      return [['Grant id', str(d.jti)], ['Expires', str(d.expiresAt)]];
    case 'execution.succeeded':
      return [['Result', str(d.text)]];
    case 'execution.failed':
    case 'execution.unknown':
    case 'approval.refused':
      return [['Error', str(d.message ?? obj(d.error ?? null).message ?? null)], ['Code', str(d.code ?? obj(d.error ?? null).code ?? null)]];
    default:
      return [];
  }
}

function Decision(props: { decision: TimelineDecision }) {
  const d = props.decision;
  const key = d.evidenceKind === 'device' ? `paired device ${d.keyName ?? d.keyId}` : `passkey "${d.keyName ?? 'removed'}" (${d.keyId})`;
  return (
    <li>
      <strong>{d.decision === 'approve' ? 'Approved' : 'Rejected'}</strong> by <Inline text={d.approverEmail ?? d.approverId} /> with{' '}
      <Inline text={key} /> at{' '}
      <time datetime={d.at}>{d.at}</time>
      {d.reason ? (
        <div>
          Reason given: <Value text={d.reason} block />
        </div>
      ) : null}
    </li>
  );
}

export function TimelineView(props: { timeline: Timeline }) {
  const { request, entries, decisions } = props.timeline;
  const intent = obj(request.intent);
  const verdict = obj(request.verdict);
  return (
    <section>
      <h1>
        <Value text={str(intent.summary) || request.tool} />
      </h1>
      <Facts
        facts={[
          ['Request', request.id],
          ['Agent', request.agentName ?? request.agentId],
          ['Tool', request.tool],
          ['State', request.state],
          ['Rule', `${str(verdict.decision)} by ${str(verdict.ruleId) || 'default'}: ${str(verdict.reason)}`],
          ['Digest', request.digest],
          ['Received', request.createdAt],
        ]}
      />
      <h2>Decisions</h2>
      {decisions.length === 0 ? <p class="empty">No human decided this request.</p> : <ul id="decisions">{decisions.map((d) => <Decision decision={d} />)}</ul>}
      <h2>Chain entries</h2>
      <ol class="timeline" id="timeline">
        {entries.map((entry) => (
          <li data-seq={entry.seq} data-kind={entry.kind}>
            <div>
              <span class="kind">{TITLES[entry.kind] ?? entry.kind}</span> · entry {entry.seq} · <span class="mono" title={entry.hash}>leaf {entry.hash.slice(0, 12)}…</span>
            </div>
            <div class="empty">
              <time datetime={entry.at}>{entry.at}</time> by <Inline text={entry.actor} />
            </div>
            <Facts facts={details(entry)} />
            <details>
              <summary>Entry as stored (leaf hash, data)</summary>
              <DataBlock text={JSON.stringify({ seq: entry.seq, leafHash: entry.hash, data: entry.data }, null, 2)} />
            </details>
          </li>
        ))}
      </ol>
      {request.error ? (
        <p class="notice error">
          Upstream error: <Inline text={str(obj(request.error).message ?? null)} />
        </p>
      ) : null}
    </section>
  );
}
