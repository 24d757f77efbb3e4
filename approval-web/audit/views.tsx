import type { Child } from 'hono/jsx';
import type { ChainStatus, RequestFilter, RequestPage, Stats } from './reader.ts';
import { When } from '../views/decision.tsx';
import { Value } from '../views/value.tsx';

/** The first thing on the dashboard: what happened in the charts' window, in one sentence. */
export function Summary(props: { stats: Stats }) {
  const { perHour, from, to } = props.stats;
  const sum = (key: 'allow' | 'approve' | 'deny') => perHour.reduce((n, b) => n + b[key], 0);
  const total = sum('allow') + sum('approve') + sum('deny');
  return (
    <p class="summary-line" id="audit-summary">
      <strong>{total.toLocaleString('en-US')}</strong> request{total === 1 ? '' : 's'} from <When at={from} /> to <When at={to} />:{' '}
      <span class="allow">{sum('allow')} allowed</span>, <span class="approve">{sum('approve')} asked a human</span>,{' '}
      <span class="deny">{sum('deny')} denied</span>.
    </p>
  );
}

/** The audit banner: green with the verified tree, checkpoint and sequencer lag, or red naming the first broken entry. */
export function ChainBanner(props: { status: ChainStatus | null; recheckUrl: string; error?: string }) {
  const { status } = props;
  if (!status) {
    return (
      <div class="chain broken" role="alert" id="chain-status">
        Audit log status unavailable: {props.error ?? 'the audit service did not answer'}.
      </div>
    );
  }
  if (status.mode === 'checking') {
    return (
      <div class="chain" role="status" id="chain-status">
        Verifying the audit log… {status.verifiedUpTo > 0 ? `Verified up to entry ${status.verifiedUpTo} earlier. ` : ''}
        <a href={props.recheckUrl.replace('recheck=1', 'recheck=0')}>Reload for the result</a>
      </div>
    );
  }
  if (!status.ok && status.firstBad) {
    return (
      <div class="chain broken" role="alert" id="chain-status">
        Audit log BROKEN at entry {status.firstBad.seq}: {status.firstBad.reason}. Entries before {status.firstBad.seq} verified.{' '}
        <a href={props.recheckUrl}>Re-check now</a>
      </div>
    );
  }
  const checkpoint = status.checkpoint
    ? `latest signed checkpoint at size ${status.checkpoint.size}${status.checkpoint.at ? ` (${status.checkpoint.at})` : ''}`
    : 'no signed checkpoint yet';
  const lag = status.sequencer ? ` Sequencer lag ${status.sequencer.lagMs} ms (${status.sequencer.queued} queued).` : '';
  return (
    <div class="chain ok" role="status" id="chain-status">
      <strong>✓ Audit log verified up to entry {status.verifiedUpTo}</strong>{' '}
      <a href={props.recheckUrl}>Re-check now</a>
      <details class="chain-details">
        <summary>How it was checked</summary>
        Tree size {status.treeSize}; {checkpoint}.{lag} Checked <When at={status.checkedAt} />.
      </details>
    </div>
  );
}

export function AuditNav() {
  return (
    <nav class="audit" aria-label="Audit">
      <a href="/audit">Requests</a>
      <a href="/audit/people">Agents and approvers</a>
    </nav>
  );
}

const DECISIONS = ['allow', 'approve', 'deny'];
const STATES = ['received', 'denied', 'allowed', 'pending', 'approved', 'rejected', 'expired', 'cancelled', 'executing', 'succeeded', 'failed', 'unknown'];

function Select(props: { name: string; label: string; value?: string; options: string[] }) {
  return (
    <label>
      {props.label}
      <select name={props.name}>
        <option value="">any</option>
        {props.options.map((o) => (
          <option value={o} selected={o === props.value}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A GET form, so the URL carries the filters and can be bookmarked or shared. */
export function FilterForm(props: { filter: RequestFilter; raw: Record<string, string> }) {
  const f = props.filter;
  const active = Object.keys(props.raw).length;
  // Folded behind one button on a phone; open while filters are in use, so they can be seen and changed.
  return (
    <details class="filters-box" id="filters" open={active > 0}>
      <summary>{active > 0 ? `Search and narrow down (${active} in use)` : 'Search and narrow down'}</summary>
    <form class="filters" method="get" action="/audit" role="search">
      <label class="wide">
        Search summaries, tools and ids
        <input type="search" name="q" value={f.q ?? ''} maxlength={200} />
      </label>
      <label>
        Agent
        <input name="agent" value={f.agent ?? ''} maxlength={200} />
      </label>
      <label>
        Tool
        <input name="tool" value={f.tool ?? ''} maxlength={200} />
      </label>
      <Select name="decision" label="Decision" value={f.decision} options={DECISIONS} />
      <Select name="state" label="State" value={f.state} options={STATES} />
      <label>
        From (UTC)
        <input type="datetime-local" name="from" value={props.raw.from ?? ''} />
      </label>
      <label>
        To (UTC)
        <input type="datetime-local" name="to" value={props.raw.to ?? ''} />
      </label>
      <button type="submit">Filter</button>
      {active > 0 ? (
        <a href="/audit" class="clear">
          Clear all filters
        </a>
      ) : null}
    </form>
    </details>
  );
}

/** The request table; each row links to its timeline. */
export function RequestTable(props: { page: RequestPage; olderUrl: string | null; newestUrl: string | null }) {
  const { rows } = props.page;
  if (rows.length === 0) return <p class="empty" id="no-requests">No requests match these filters.</p>;
  return (
    <>
      <table class="requests" id="requests">
        <thead>
          <tr>
            <th>Time</th>
            <th>Agent</th>
            <th>Tool</th>
            <th>Summary</th>
            <th>Decision</th>
            <th>State</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr data-id={r.id}>
              <td data-label="Time">
                <When at={r.createdAt} />
              </td>
              <td data-label="Agent">{r.agentName ?? r.agentId}</td>
              <td data-label="Tool" class="mono">{r.tool}</td>
              <td data-label="Summary">
                <a href={`/audit/requests/${encodeURIComponent(r.id)}`}>
                  <Value text={r.summary || '(no summary)'} />
                </a>
              </td>
              <td data-label="Decision">{r.decision}{r.ruleId ? ` (${r.ruleId})` : ''}</td>
              <td data-label="State">{r.state}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        {props.newestUrl ? <a href={props.newestUrl}>Newest</a> : <span></span>}
        <span class="muted">{rows.length} shown</span>
        {props.olderUrl ? <a href={props.olderUrl} rel="next">Older</a> : <span class="empty">No older requests</span>}
      </div>
    </>
  );
}

/** Wraps an audit page: its stylesheet, nav and chain banner above the content. */
export function AuditShell(props: { stylesheet: string; nonce?: string; banner: Child; children: Child }) {
  return (
    <>
      <link rel="stylesheet" href={props.stylesheet} nonce={props.nonce} />
      <AuditNav />
      {props.banner}
      {props.children}
    </>
  );
}
