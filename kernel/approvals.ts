import type { ApprovalDecision, ApproverRequirement, Principal, RequestRecord } from './types.ts';

/**
 * The approval state machine, as pure functions: who may decide, and what a set of decisions adds up to.
 * Any rejection rejects; expiry rejects (a timeout is a deny); approval needs `count` distinct approvers.
 */

export type ApprovalOutcome = 'pending' | 'approved' | 'rejected' | 'expired';

export type Decided = { approverId: string; decision: ApprovalDecision };

type Roles = Readonly<Record<string, readonly string[]>>;

/** Role membership comes from config (`roles`) and from the role an approver was invited with. */
export function isEligible(requirement: ApproverRequirement, approver: { email: string; roles: readonly string[] }, principal: Principal, configRoles: Roles): boolean {
  const email = approver.email.toLowerCase();
  if (requirement.role === 'owner') return email === principal.owner.toLowerCase();
  const listed = (configRoles[requirement.role] ?? []).some((member) => member.toLowerCase() === email);
  return listed || approver.roles.includes(requirement.role);
}

/** Every role an approver holds: from config (`roles`) and from the directory (invites, `approver grant`). */
export function effectiveRoles(approver: { email: string; roles: readonly string[] }, configRoles: Roles): string[] {
  const email = approver.email.toLowerCase();
  const listed = Object.keys(configRoles).filter((role) => configRoles[role]!.some((member) => member.toLowerCase() === email));
  return [...new Set([...approver.roles, ...listed])];
}

/**
 * Who may read a request: whoever may (or did) decide it, the agent's owner, and the `auditor` role. Nobody else
 * learns it exists: the arguments can hold customers' data.
 */
export function mayView(record: RequestRecord, approver: { id: string; email: string; roles: readonly string[] }, configRoles: Roles): boolean {
  const { principal } = record.body;
  if (effectiveRoles(approver, configRoles).includes('auditor') || approver.email.toLowerCase() === principal.owner.toLowerCase()) return true;
  if (record.approvals.some((a) => a.approverId === approver.id)) return true;
  return record.verdict.approvers !== undefined && isEligible(record.verdict.approvers, approver, principal, configRoles);
}

export function tally(requirement: ApproverRequirement, decisions: readonly Decided[], expiresAt: Date, now: Date): ApprovalOutcome {
  if (decisions.some((d) => d.decision === 'reject')) return 'rejected';
  // Distinct approvers only: the same person twice counts once (the store also keeps one row per approver).
  const approvedBy = new Set(decisions.filter((d) => d.decision === 'approve').map((d) => d.approverId));
  if (approvedBy.size >= requirement.count) return 'approved';
  return now.getTime() >= expiresAt.getTime() ? 'expired' : 'pending';
}

export function quorumText(requirement: ApproverRequirement, approvals: number): string {
  const who = requirement.role === 'owner' ? "the agent's owner" : `role ${requirement.role}`;
  return `${approvals} of ${requirement.count} approvals (${who})`;
}
