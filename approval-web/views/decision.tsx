import type { ApprovalDecision, ApprovalRecord, RequestView } from '../../kernel/index.ts';
import { approvalsCount, quorumLine } from './intent.tsx';
import { Value } from './value.tsx';

/**
 * The decision part of an approval page: the quorum, the buttons with their passkey ceremony (client/approve.ts),
 * or, once the request is no longer pending, its final state read-only.
 */

function Decisions(props: { approvals: ApprovalRecord[] }) {
  if (props.approvals.length === 0) return null;
  return (
    <ul class="decisions" id="decisions">
      {props.approvals.map((a) => (
        <li>
          <strong>{a.decision === 'approve' ? 'Approved' : 'Rejected'}</strong> by <Value text={a.approverEmail} />
          {a.reason ? (
            <>
              {' '}
              with the reason: <Value text={a.reason} block />
            </>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

export function DecisionPanel(props: { request: RequestView; eligible: boolean; mine: ApprovalRecord | null }) {
  const { request, eligible, mine } = props;
  const { approved, required } = approvalsCount(request);
  return (
    <section class="decide" id="decide" aria-label="Your decision">
      <p class="quorum" id="quorum">
        {quorumLine(request)}
      </p>
      <Decisions approvals={request.approvals} />
      {mine ? (
        <p class="notice" id="already">
          You {mine.decision === 'approve' ? 'approved' : 'rejected'} this request. {waitingText(required - approved)}
        </p>
      ) : eligible ? (
        <div id="actions" data-url={`/requests/${encodeURIComponent(request.id)}`}>
          <button type="button" id="approve" class="approve">
            Approve
          </button>
          <label for="reason" class="reason-label">
            Reason for rejecting (optional, sent back to the agent)
          </label>
          <textarea id="reason" name="reason" maxlength={2000} rows={3}></textarea>
          <button type="button" id="reject" class="reject">
            Reject
          </button>
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

/** A decided, expired or cancelled request: what happened, shown read-only. */
export function FinalState(props: { request: RequestView }) {
  const { request } = props;
  return (
    <section class="final" id="final" data-state={request.state}>
      <p class={`notice final-${request.state}`} id="final-text">
        {FINAL[request.state] ?? request.state}
      </p>
      {request.verdict.approvers ? <p class="quorum">{quorumLine(request)}</p> : null}
      <Decisions approvals={request.approvals} />
    </section>
  );
}

function waitingText(left: number): string {
  if (left <= 0) return '';
  return `Waiting for ${left} more approval${left === 1 ? '' : 's'}.`;
}

/** What the approver is told after their decision counted. */
export function outcomeMessage(after: RequestView, decision: ApprovalDecision): string {
  if (decision === 'reject' || after.state === 'rejected') return 'Rejected. The agent receives your decision and reason.';
  if (after.state === 'pending') {
    const { approved, required } = approvalsCount(after);
    return `Your approval counted: ${approved} of ${required}. ${waitingText(required - approved)}`;
  }
  return 'Approved. The request runs now and the agent gets its result.';
}
