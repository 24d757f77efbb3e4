/**
 * The inbox's history: requests an approver has seen in their inbox or decided, newest first, so that decided and
 * expired ones can move to a "History" section. `request.list` is not the web app's to send, and the kernel's
 * inbox holds only pending requests, so the web app remembers ids it has shown (in memory, per approver, bounded).
 * After a restart history starts empty; the audit dashboard keeps the full record.
 */

const KEEP = 30;

export interface History {
  /** Remembers request ids shown to or decided by an approver (most recent first). */
  saw(approverId: string, requestIds: readonly string[]): void;
  /** The remembered ids, most recent first. */
  recent(approverId: string): string[];
}

export function createHistory(): History {
  const byApprover = new Map<string, string[]>();
  return {
    saw(approverId, requestIds) {
      if (requestIds.length === 0) return;
      const known = byApprover.get(approverId) ?? [];
      const fresh = requestIds.filter((id) => !known.includes(id));
      if (fresh.length === 0) return;
      byApprover.set(approverId, [...fresh, ...known].slice(0, KEEP));
    },
    recent(approverId) {
      return [...(byApprover.get(approverId) ?? [])];
    },
  };
}
