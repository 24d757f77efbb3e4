import type { ApprovalDecision, ApprovalRecord, RequestView } from '../../kernel/index.ts';
import { displayUrl } from '../hygiene.ts';
import { approvalsCount, quorumLine } from './intent.tsx';
import { Commit, Inline, Value } from './value.tsx';

/**
 * The decision part of an approval page: the action bar (Approve and Reject, in thumb reach, with their passkey
 * ceremony in client/approve.ts), who decides and what is still needed, or, once the request is no longer pending,
 * what happened: the outcome with a link to what it made upstream, or the reason it failed, as the agent got it.
 */

/** A time shown in UTC by the server; the page script rewrites it to the reader's local time, UTC on hover. */
export function When(props: { at: string }) {
  const date = new Date(props.at);
  if (Number.isNaN(date.getTime())) return <Value text={props.at} />;
  const utc = `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return (
    <time datetime={date.toISOString()} title={utc} data-local="">
      {utc}
    </time>
  );
}

/** The action bar, sticky at the bottom of the screen while the request is read. */
export function ActionBar(props: { request: RequestView; eligible: boolean; mine: ApprovalRecord | null }) {
  const { request, eligible, mine } = props;
  const { approved, required } = approvalsCount(request);
  return (
    <section class="action-bar" id="decide" aria-label="Your decision">
      {mine ? (
        <p class="notice" id="already">
          You {mine.decision === 'approve' ? 'approved' : 'rejected'} this request. {waitingText(required - approved)}
        </p>
      ) : eligible ? (
        <div id="actions" data-url={`/requests/${encodeURIComponent(request.id)}`}>
          <details class="reason-box" id="reason-box">
            <summary>Add a reason for rejecting</summary>
            <label for="reason" class="reason-label">
              Reason for rejecting (optional, signed with your decision and sent back to the agent)
            </label>
            <textarea id="reason" name="reason" maxlength={2000} rows={2}></textarea>
          </details>
          <div class="buttons">
            <button type="button" id="reject" class="reject" aria-describedby="summary">
              Reject
            </button>
            <button type="button" id="approve" class="approve" aria-describedby="summary">
              Approve
            </button>
          </div>
        </div>
      ) : (
        <p class="notice" id="not-yours">
          You are not among the approvers this request needs ({request.verdict.approvers?.role ?? 'owner'}), so you can only look.
        </p>
      )}
      <div id="status" role="status" aria-live="polite" hidden></div>
    </section>
  );
}

function neededText(request: RequestView): string {
  const { approved, required } = approvalsCount(request);
  const role = request.verdict.approvers?.role;
  const who = !role || role === 'owner' ? "the agent's owner" : `role ${role}`;
  if (request.state === 'pending') {
    const left = required - approved;
    return `Needs ${required} approval${required === 1 ? '' : 's'} from ${who}: ${approved} so far, ${left} more needed.`;
  }
  if (request.state === 'rejected') return 'Rejected: one rejection is enough to stop it.';
  if (request.state === 'expired') return `Expired with ${approved} of ${required} approvals: nobody decided in time.`;
  if (request.state === 'cancelled') return 'Cancelled by the agent before enough approvals came in.';
  if (!request.verdict.approvers) return 'Policy decided this without asking anyone.';
  return `Approved: ${approved} of ${required} from ${who}. Nothing more is needed.`;
}

/**
 * Who decides: every eligible approver by name with what they did and when, anyone else who decided, and what is
 * still needed. Re-rendered live (client/approve.ts swaps it in when the event stream says the request changed).
 */
export function Progress(props: { request: RequestView; eligible: string[] }) {
  const { request } = props;
  const byEmail = new Map(request.approvals.map((a) => [a.approverEmail.toLowerCase(), a]));
  const people = [...new Map([...props.eligible, ...request.approvals.map((a) => a.approverEmail)].map((e) => [e.toLowerCase(), e])).values()];
  return (
    <details class="section" id="progress" open>
      <summary>
        <h2>Who decides</h2>
      </summary>
      <p id="needed">{neededText(request)}</p>
      {people.length > 0 ? (
        <ul class="people" id="people">
          {people.map((email) => {
            const decision = byEmail.get(email.toLowerCase());
            return (
              <li data-decision={decision?.decision ?? 'waiting'}>
                <span class={`mark mark-${decision?.decision ?? 'waiting'}`} aria-hidden="true">
                  {decision ? (decision.decision === 'reject' ? '✕' : '✓') : '…'}
                </span>{' '}
                <Inline text={email} />{' '}
                {decision ? (
                  <>
                    {decision.decision === 'approve' ? 'approved' : decision.decision === 'reject' ? 'rejected' : decision.decision.replace('_', ' ')}{' '}
                    <When at={decision.at} /> {decision.evidenceKind === 'device' ? 'on a Passport' : 'with a passkey'}
                    {decision.reason ? (
                      <>
                        , with the reason: <Value text={decision.reason} block />
                      </>
                    ) : null}
                  </>
                ) : (
                  <span class="muted">has not decided</span>
                )}
              </li>
            );
          })}
        </ul>
      ) : null}
    </details>
  );
}

/**
 * A request whose outcome nobody could tell (the server running it died mid-call and reconcile found no proof either
 * way): the owner checks upstream and says which. Both buttons are decisions signed with a passkey, like an approval.
 */
export function UnknownPanel(props: { request: RequestView; eligible: boolean }) {
  const { request, eligible } = props;
  const check = request.error?.check ?? '';
  const link = /https?:\/\/[^\s]+/.exec(check)?.[0] ?? null;
  return (
    <section class="decide unknown" id="unknown" aria-label="Did it run?">
      <h2>This may or may not have run</h2>
      {/* Divs, not paragraphs: a value is a block, and a <p> around one ends before it (an empty box, loose text). */}
      <div class="notice" id="unknown-why">
        <Value text={request.error?.message ?? ''} block />
      </div>
      <div id="unknown-check">
        What to check upstream: <Value text={check} />
        {link ? (
          <>
            {' '}
            (<a href={link} rel="noreferrer noopener" target="_blank" id="check-link">open</a>)
          </>
        ) : null}
      </div>
      {eligible ? (
        <div id="actions" data-url={`/requests/${encodeURIComponent(request.id)}`}>
          <p>If you can see that it happened, mark it as done: the agent gets that answer. If it did not, run it again once.</p>
          <label for="reason" class="reason-label">
            What you saw (optional, recorded and sent to the agent)
          </label>
          <textarea id="reason" name="reason" maxlength={2000} rows={2}></textarea>
          <button type="button" id="mark-done" class="approve">
            Mark as done
          </button>
          <button type="button" id="run-again" class="reject">
            Run again
          </button>
        </div>
      ) : (
        <p class="notice" id="not-yours">
          Only the agent's owner or its approvers can say whether it ran.
        </p>
      )}
      <div id="status" role="status" aria-live="polite" hidden></div>
    </section>
  );
}

const FINAL: Record<string, string> = {
  approved: 'Approved. It runs now.',
  executing: 'Approved. It is running.',
  succeeded: 'Approved, and it ran successfully.',
  failed: 'Approved, but it failed when it ran.',
  unknown: 'Approved; whether it ran is being checked.',
  rejected: 'Rejected. The agent was told.',
  expired: 'Expired: nobody decided in time, so it was rejected.',
  cancelled: 'Cancelled by the agent.',
  denied: 'Denied by policy.',
  allowed: 'Allowed by policy without approval.',
};

/** The link to what it made upstream: an https `html_url` or `url` in the result, with its host said. */
function upstreamLink(data: Record<string, unknown>): { href: string; host: string } | null {
  for (const key of ['html_url', 'url']) {
    const value = data[key];
    if (typeof value !== 'string') continue;
    const url = displayUrl(value);
    if (url.flags.length === 0 && url.hostname) return { href: url.text, host: url.hostname };
  }
  return null;
}

/** A decided, expired or cancelled request: what happened, with the upstream result or the reason it failed. */
export function FinalState(props: { request: RequestView }) {
  const { request } = props;
  const data = (request.result?.data ?? {}) as Record<string, unknown>;
  const link = request.state === 'succeeded' ? upstreamLink(data) : null;
  const sha = typeof data.sha === 'string' ? data.sha : null;
  return (
    <section class="final" id="final" data-state={request.state} aria-label="What happened">
      <p class={`notice final-${request.state}`} id="final-text">
        {FINAL[request.state] ?? request.state}
      </p>
      {request.state === 'succeeded' && request.result ? (
        <div class="outcome" id="outcome">
          <p class="outcome-label">What the connector reported:</p>
          <Value text={request.result.text} block />
          {sha ? (
            <div class="outcome-commit">
              Commit: <Commit sha={sha} />
            </div>
          ) : null}
          {link ? (
            <p>
              <a href={link.href} id="upstream-link" rel="noreferrer noopener" target="_blank">
                Open it on {link.host}
              </a>
            </p>
          ) : null}
        </div>
      ) : null}
      {(request.state === 'failed' || request.state === 'denied') && request.error ? (
        <div class="outcome failure" id="failure">
          <p class="outcome-label">What the agent was told:</p>
          <Value text={request.error.message} block />
        </div>
      ) : null}
      {request.verdict.approvers ? (
        <p class="quorum" id="quorum">
          {quorumLine(request)}
        </p>
      ) : null}
    </section>
  );
}

function waitingText(left: number): string {
  if (left <= 0) return '';
  return `Waiting for ${left} more approval${left === 1 ? '' : 's'}.`;
}

/** What the approver is told after their decision counted. */
export function outcomeMessage(after: RequestView, decision: ApprovalDecision): string {
  if (decision === 'mark_done') return 'Marked as done. The agent is told it ran.';
  if (decision === 'run_again') return 'Running it again now. The agent gets the result.';
  if (decision === 'reject' || after.state === 'rejected') return 'Rejected. The agent receives your decision and reason.';
  if (after.state === 'pending') {
    const { approved, required } = approvalsCount(after);
    return `Your approval counted: ${approved} of ${required}. ${waitingText(required - approved)}`;
  }
  return 'Approved. The request runs now and the agent gets its result.';
}
