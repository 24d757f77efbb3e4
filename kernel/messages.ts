import type { ApprovalDecision, Json, JsonObject, RequestRecord } from './types.ts';

/**
 * The closed set of messages the kernel endpoint (`kernel`) accepts. The router stamps the sender; a service may
 * send an op only if its port holds the capability `kernel:<op>`. Principals are never read from a body: the
 * kernel looks agents and approvers up in its own tables.
 */
export type KernelMessage =
  // Agents (gateway for authentication; the admin CLI for the rest).
  /**
   * `by` and `client`: the approver who consented to an OAuth connection (the web app verified them) and its client;
   * `existing`: the connection becomes an active agent `owner` already owns (audited as agent.connected), not a new one.
   */
  | { op: 'agent.add'; name: string; owner: string; by?: string | null; client?: string | null; existing?: boolean }
  | { op: 'agent.list' }
  /** `by`: the approver who revoked it, when a service that verified them (the web app) says so. */
  | { op: 'agent.revoke'; name: string; by?: string | null }
  | { op: 'agent.authenticate'; token: string }
  /** OAuth resource-server mode: the agent a verified access token's subject names. */
  | { op: 'agent.resolve'; name: string }
  /** A refusal at a service's edge (a cross-site POST, a bad session) for the audit log; counted, not per event. */
  | { op: 'edge.refused'; what: string; detail: string }
  // Requests (gateway).
  | { op: 'tools.list' }
  /** `call`: the gateway's id of the agent's tools/call; an execution run inside it (allowed at once) carries it, so its progress and the agent's cancellation find it. */
  | { op: 'request.submit'; agentId: string; tool: string; args: JsonObject; call?: string | null }
  | { op: 'request.await'; requestId: string; agentId: string | null; waitMs: number }
  | { op: 'request.cancel'; requestId: string; agentId: string | null; reason: string | null }
  | { op: 'request.get'; requestId: string }
  /** A request as one approver may see it (approvals.ts: mayView); unknown_request for anyone else. */
  | { op: 'request.view'; requestId: string; approverId: string }
  | { op: 'request.list'; agentId: string | null; limit: number }
  // Approvers and their keys (approval web app, admin CLI).
  | { op: 'approver.upsert'; email: string; roles: string[] }
  | { op: 'approver.get'; email: string | null; approverId: string | null }
  /** The operator gives or takes database roles (`approver grant|revoke`); audited with the roles before and after. */
  | { op: 'approver.roles'; email: string; grant: string[]; revoke: string[] }
  | { op: 'passkey.add'; approverId: string; credential: PasskeyInput }
  | { op: 'passkey.lookup'; credentialId: string }
  | { op: 'passkey.touch'; credentialId: string; oldCounter: number; newCounter: number }
  | { op: 'passkey.remove'; credentialId: string; approverId: string }
  // Paired Passport devices (approval web app, admin CLI): an approver's Ed25519 key that signs decisions.
  | { op: 'device.add'; approverId: string; name: string; publicJwk: JsonObject }
  | { op: 'device.list'; approverId: string }
  | { op: 'device.remove'; deviceId: string; approverId: string }
  /** The active device with its approver, or null (unknown or removed): device API authentication. */
  | { op: 'device.lookup'; deviceId: string }
  // Approvals (approval web app, paired devices).
  | { op: 'approval.inbox'; approverId: string }
  /** `reason`: the reason the decision will carry; it is inside the signed bytes (evidence.ts). */
  | { op: 'approval.challenge'; requestId: string; decision: ApprovalDecision; approverId: string; reason?: string | null }
  | { op: 'approval.decide'; requestId: string; decision: ApprovalDecision; reason: string | null; evidence: EvidenceInput }
  // Grants (connector hosts, just before an upstream call).
  | { op: 'grant.consume'; jti: string; digest: string };

export type PasskeyInput = { [key: string]: Json; id: string; publicKey: string; counter: number; transports: string[]; name: string };

/** Evidence as submitted: a WebAuthn assertion (AuthenticationResponseJSON) or a paired device's compact JWS. */
export type EvidenceInput = { kind: 'webauthn'; response: JsonObject } | { kind: 'device'; deviceId: string; jws: string };

/** What request ops return: the stored record, with the approval link when one is waiting. */
export interface RequestView extends RequestRecord {
  approvalUrl: string | null;
}
