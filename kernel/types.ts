/**
 * The kernel's vocabulary. Every other part of Countersign speaks in these types; nothing here does I/O.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Who a request acts for. Built by the kernel from its own agents table, never taken from a message body. */
export interface Principal {
  agentId: string;
  agentName: string;
  owner: string;
}

export type Impact = 'read' | 'write' | 'high';
export type Consequence = 'reads' | 'writes' | 'moves-money' | 'changes-code' | 'deploys' | 'grants-access' | 'shares-secret' | 'deletes' | 'unknown';

export type FieldKind =
  | 'text' | 'number' | 'money' | 'account' | 'repository' | 'branch' | 'commit' | 'environment' | 'url' | 'email' | 'person' | 'permission';

/**
 * One labelled value of an intent. Money is `value` in integer minor units plus an ISO 4217 `currency`,
 * so every screen formats it the same way.
 */
export interface IntentField {
  label: string;
  kind: FieldKind;
  value: string | number;
  currency?: string;
  /**
   * Set when the value is free text written upstream (an issue title, a customer name): every screen shows it quoted
   * and labelled with its author, never inside the summary. Absent: the connector computed or checked the value.
   */
  writtenBy?: UpstreamAuthor;
}

/** Who wrote a piece of upstream text: where ("GitHub", "Stripe") and, when the upstream says, who there ("@octocat"). */
export interface UpstreamAuthor {
  on: string;
  by: string | null;
}

/**
 * The canonical intent: what a request will do, in the language of its consequence, from trusted code only. Every
 * string has an author: `summary` holds only values the connector computed or checked (ids, amounts, branches that
 * exist); upstream free text is a field with `writtenBy`; the agent's words are `agentText`.
 */
export interface Intent {
  summary: string;
  consequence: Consequence;
  reversible: boolean;
  fields: IntentField[];
  /** Upstream state the execution must still match (PR head SHA, charge amount). Part of the digest. */
  pins: JsonObject;
  /** Text the agent wrote (the body of a PR it opens, a reason). Shown only in a box labelled as the agent's words. */
  agentText?: { label: string; text: string }[];
  /** True when the connector talks to its local sandbox upstream rather than the real API. */
  sandbox: boolean;
}

export type RequestState =
  | 'received' | 'denied' | 'allowed' | 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled'
  | 'executing' | 'succeeded' | 'failed' | 'unknown';

export const FINAL_STATES: readonly RequestState[] = ['denied', 'rejected', 'expired', 'cancelled', 'succeeded', 'failed'];

/** The exact bytes an approval and a grant are bound to (DESIGN section 3). */
export interface RequestBody {
  tool: string;
  args: JsonObject;
  pins: JsonObject;
  principal: Principal;
  policyVersion: string;
  requestId: string;
  nonce: string;
  expiresAt: string;
}

export type PolicyDecision = 'allow' | 'deny' | 'approve';

export interface ApproverRequirement {
  /** A role from config, or `owner` for the agent's owner. */
  role: string;
  count: number;
}

/** What policy said about one request, and why. */
export interface Verdict {
  decision: PolicyDecision;
  ruleId: string | null;
  reason: string;
  approvers?: ApproverRequirement;
  /** Seconds a pending approval waits before it expires (and so rejects). */
  expiresInSeconds?: number;
  /** A budget the request spends from when it is allowed: recorded atomically with the decision. */
  spend?: { ruleId: string; key: string; amount: number };
}

/** The tool's result as it goes back to the agent. */
export interface ToolResult {
  /** Structured content (MCP `structuredContent`). */
  data: JsonObject;
  /** Short human text for the agent. */
  text: string;
}

/** A request as stored and shown: the body that was digested plus what happened to it. */
export interface RequestRecord {
  id: string;
  digest: string;
  body: RequestBody;
  intent: Intent;
  state: RequestState;
  verdict: Verdict;
  approvals: ApprovalRecord[];
  result: ToolResult | null;
  error: KernelErrorShape | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * `approve` and `reject` decide a pending request. `mark_done` and `run_again` resolve one whose outcome is unknown
 * (reconcile could not tell whether it ran): a human checked upstream and says which. All four need evidence.
 */
export type ApprovalDecision = 'approve' | 'reject' | 'mark_done' | 'run_again';

export interface ApprovalRecord {
  approverId: string;
  approverEmail: string;
  decision: ApprovalDecision;
  reason: string | null;
  evidenceKind: 'webauthn' | 'device';
  keyId: string;
  at: string;
}

export interface KernelErrorShape {
  code: string;
  message: string;
  /** For an outcome nobody could determine: where a human checks upstream (a link). */
  check?: string;
}
