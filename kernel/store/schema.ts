import { sql } from 'drizzle-orm';
import { bigint, bigserial, integer, index, json, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import type { ApproverRequirement, Intent, RequestBody, ToolResult, Verdict, KernelErrorShape } from '../types.ts';

/** The kernel's tables. Other parts keep their own schema files; none of them writes here directly. */

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const agents = pgTable('agents', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  owner: text('owner').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: at('created_at').notNull().defaultNow(),
  revokedAt: at('revoked_at'),
  lastSeenAt: at('last_seen_at'),
});

export const approvers = pgTable('approvers', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  roles: jsonb('roles').$type<string[]>().notNull().default([]),
  createdAt: at('created_at').notNull().defaultNow(),
  lastSeenAt: at('last_seen_at'),
});

/** Registered passkeys. `counter` is updated with compare-and-swap so a cloned authenticator is noticed. */
export const passkeys = pgTable('passkeys', {
  id: text('id').primaryKey(), // credential id, base64url
  approverId: text('approver_id').notNull().references(() => approvers.id),
  publicKey: text('public_key').notNull(), // COSE key, base64url
  counter: bigint('counter', { mode: 'number' }).notNull().default(0),
  transports: jsonb('transports').$type<string[]>().notNull().default([]),
  name: text('name').notNull().default('passkey'),
  createdAt: at('created_at').notNull().defaultNow(),
  lastUsedAt: at('last_used_at'),
  removedAt: at('removed_at'),
});

/** Paired Passport devices: an approver's hardware key that signs decisions with JWS. */
export const devices = pgTable(
  'devices',
  {
    id: text('id').primaryKey(),
    approverId: text('approver_id').notNull().references(() => approvers.id),
    name: text('name').notNull(),
    publicJwk: jsonb('public_jwk').$type<Record<string, string>>().notNull(),
    pairedAt: at('paired_at').notNull().defaultNow(),
    removedAt: at('removed_at'),
  },
  // One device key, one approver: a key active twice could fill two quorum seats with one signature.
  (t) => [uniqueIndex('devices_active_key').on(sql`(${t.publicJwk}->>'x')`).where(sql`${t.removedAt} is null`)],
);

export const requests = pgTable(
  'requests',
  {
    id: text('id').primaryKey(),
    digest: text('digest').notNull().unique(),
    agentId: text('agent_id').notNull(),
    tool: text('tool').notNull(),
    body: jsonb('body').$type<RequestBody>().notNull(),
    intent: jsonb('intent').$type<Intent>().notNull(),
    verdict: jsonb('verdict').$type<Verdict>().notNull(),
    state: text('state').notNull(),
    ruleId: text('rule_id'),
    approvers: jsonb('approvers').$type<ApproverRequirement | null>(),
    expiresAt: at('expires_at').notNull(),
    result: jsonb('result').$type<ToolResult | null>(),
    error: jsonb('error').$type<KernelErrorShape | null>(),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
    /** While `executing` (or being reconciled): the replica that owns it, until when, and which claim of it this is. */
    leaseOwner: text('lease_owner'),
    leaseUntil: at('lease_until'),
    attempt: integer('attempt').notNull().default(0),
  },
  (t) => [
    index('requests_agent_created').on(t.agentId, t.createdAt),
    index('requests_state').on(t.state),
    index('requests_lease').on(t.leaseUntil),
    index('requests_created').on(t.createdAt, t.id),
    // For the audit dashboard's list filters (gateway/audit-reader), newest first at 100,000+ requests.
    index('requests_tool_created').on(t.tool, t.createdAt, t.id),
    index('requests_decision_created').on(sql`(${t.verdict}->>'decision')`, t.createdAt, t.id),
    index('requests_search').using('gin', sql`to_tsvector('simple'::regconfig, coalesce(${t.intent}->>'summary', '') || ' ' || ${t.tool})`),
  ],
);

/** One approver's decision on one request, with the whole evidence kept for offline re-verification. */
export const decisions = pgTable(
  'decisions',
  {
    requestId: text('request_id').notNull().references(() => requests.id),
    approverId: text('approver_id').notNull().references(() => approvers.id),
    decision: text('decision').notNull(),
    reason: text('reason'),
    evidenceKind: text('evidence_kind').notNull(),
    keyId: text('key_id').notNull(),
    evidence: jsonb('evidence').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.requestId, t.approverId] })],
);

/** Minted grants; `consumedAt` is set once, atomically, when an executor uses the grant. */
export const grants = pgTable('grants', {
  jti: text('jti').primaryKey(),
  requestId: text('request_id').notNull().references(() => requests.id),
  digest: text('digest').notNull(),
  expiresAt: at('expires_at').notNull(),
  consumedAt: at('consumed_at'),
});

/** Spending recorded against `limit` budgets, one row per allowed request. */
export const spends = pgTable(
  'spends',
  {
    requestId: text('request_id').primaryKey(),
    ruleId: text('rule_id').notNull(),
    key: text('key').notNull(),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    at: at('at').notNull().defaultNow(),
  },
  (t) => [index('spends_rule_key_at').on(t.ruleId, t.key, t.at)],
);

/** The tree's leaves in order. `hash` is the leaf hash; rows from before migration 0007 also keep their chain links. */
export const auditEntries = pgTable(
  'audit_entries',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    at: text('at').notNull(), // ISO time, as hashed
    kind: text('kind').notNull(),
    requestId: text('request_id'),
    actor: text('actor').notNull(),
    data: json('data').notNull(), // JSON text as written (its JCS), not re-parsed into jsonb: the sequencer moves it as is
    hash: text('leaf_hash'),
    chainPrevHash: text('prev_hash'),
    chainHash: text('hash'),
  },
  (t) => [index('audit_request').on(t.requestId, t.seq), index('audit_kind').on(t.kind, t.seq)],
);

/** Entries committed by their transactions and not yet in the tree. `data` is its JCS text, hashed as is. */
export const auditQueue = pgTable('audit_queue', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: text('at').notNull(),
  kind: text('kind').notNull(),
  requestId: text('request_id'),
  actor: text('actor').notNull(),
  data: text('data').notNull(),
});

/** Complete subtrees from level 6 up (64 leaves), written once; proofs read O(log n) rows and at most 32 leaves per lower node. */
export const auditTree = pgTable(
  'audit_tree',
  {
    level: integer('level').notNull(),
    idx: bigint('idx', { mode: 'number' }).notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/** One signed tlog-checkpoint note per integrated batch. */
export const auditTreeHeads = pgTable('audit_tree_heads', {
  size: bigint('size', { mode: 'number' }).primaryKey(),
  root: text('root').notNull(),
  at: text('at').notNull(),
  note: text('note').notNull(),
});

