import type { Json, PolicyDecision, RequestState } from '../../kernel/index.ts';

/**
 * The closed set of ops the read-only `audit` endpoint accepts, and the shapes of its plain-JSON replies.
 * Nothing here writes: revocations and passkey removals go to the kernel, not to this service.
 */
export type AuditReaderMessage =
  | { op: 'audit.requests'; filter?: RequestFilter; after?: string | null; limit?: number }
  | { op: 'audit.timeline'; requestId: string }
  | { op: 'audit.status'; fresh?: boolean }
  | { op: 'audit.stats'; from: string; to: string }
  | { op: 'audit.people' }
  /** The latest signed checkpoint note, for GET /audit/checkpoint on the edge. */
  | { op: 'audit.checkpoint' };

/** List filters; every one is optional and they combine with AND. Times are ISO 8601, `to` exclusive. */
export interface RequestFilter {
  agent?: string;
  tool?: string;
  decision?: PolicyDecision;
  state?: RequestState;
  from?: string;
  to?: string;
  /** Free text: whole words of the intent summary and the tool (any case), or an exact request id. */
  q?: string;
}

export interface RequestRow {
  id: string;
  createdAt: string;
  agentId: string;
  agentName: string | null;
  tool: string;
  summary: string;
  decision: string;
  ruleId: string | null;
  state: string;
  [key: string]: Json;
}

/** One page, newest first; `next` is the opaque cursor of the following (older) page, null on the last one. */
export interface RequestPage {
  rows: RequestRow[];
  next: string | null;
  [key: string]: Json;
}

export interface TimelineEntry {
  seq: number;
  at: string;
  kind: string;
  actor: string;
  data: Json;
  /** The entry's leaf hash in the audit tree. */
  hash: string;
  [key: string]: Json;
}

export interface TimelineDecision {
  approverId: string;
  approverEmail: string | null;
  decision: string;
  reason: string | null;
  evidenceKind: string;
  keyId: string;
  /** The passkey's or device's name, when it is still known. */
  keyName: string | null;
  at: string;
  [key: string]: Json;
}

export interface Timeline {
  request: {
    id: string;
    digest: string;
    createdAt: string;
    updatedAt: string;
    agentId: string;
    agentName: string | null;
    tool: string;
    state: string;
    intent: Json;
    verdict: Json;
    body: Json;
    result: Json;
    error: Json;
  };
  entries: TimelineEntry[];
  decisions: TimelineDecision[];
  [key: string]: Json;
}

/** The audit tree's state as last verified (cached for a few seconds; `fresh` forces a full re-check). */
export interface ChainStatus {
  ok: boolean;
  /** Entries verified, from seq 1. */
  verifiedUpTo: number;
  /** Leaves in the tree as re-built. */
  treeSize: number;
  /** The largest signed checkpoint the re-built tree matched, and when it was signed. */
  checkpoint: { size: number; at: string | null } | null;
  /** Entries committed but not yet sequenced, and the age of the oldest (null while checking). */
  sequencer: { queued: number; lagMs: number } | null;
  firstBad: { seq: number; reason: string } | null;
  checkedAt: string;
  /** 'full' when every entry was re-read, 'incremental' when only new entries were, 'checking' while a check runs. */
  mode: 'full' | 'incremental' | 'checking';
  [key: string]: Json;
}

export interface Stats {
  from: string;
  to: string;
  perHour: { hour: string; allow: number; deny: number; approve: number }[];
  /** Seconds from request to its final decision, in buckets with an upper bound (null = no bound). */
  timeToApproval: { upTo: number | null; label: string; count: number }[];
  topTools: { name: string; count: number }[];
  topAgents: { name: string; count: number }[];
  [key: string]: Json;
}

export interface People {
  agents: { id: string; name: string; owner: string; createdAt: string; revokedAt: string | null; lastSeenAt: string | null; lastRequestAt: string | null }[];
  approvers: {
    id: string;
    email: string;
    roles: string[];
    lastSeenAt: string | null;
    lastDecisionAt: string | null;
    passkeys: { id: string; name: string; createdAt: string; lastUsedAt: string | null; removedAt: string | null }[];
    devices: { id: string; name: string; pairedAt: string; removedAt: string | null }[];
  }[];
  [key: string]: Json;
}
