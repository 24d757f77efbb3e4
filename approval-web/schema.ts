import { index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/** The approval web app's own tables: enrollment invites, sign-in sessions, ceremony challenges, push subscriptions, inbox history, Passport pairing codes and device-call nonces. */

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const invites = pgTable('web_invites', {
  tokenHash: text('token_hash').primaryKey(),
  email: text('email').notNull(),
  role: text('role'),
  createdAt: at('created_at').notNull().defaultNow(),
  expiresAt: at('expires_at').notNull(),
  usedAt: at('used_at'),
});

export const sessions = pgTable(
  'web_sessions',
  {
    idHash: text('id_hash').primaryKey(),
    approverId: text('approver_id').notNull(),
    csrfToken: text('csrf_token').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    expiresAt: at('expires_at').notNull(),
    revokedAt: at('revoked_at'),
  },
  (t) => [index('web_sessions_approver').on(t.approverId)],
);

/** Registration and sign-in challenges: random, single use, short-lived. Approval challenges are derived, not stored. */
export const challenges = pgTable('web_challenges', {
  id: text('id').primaryKey(),
  purpose: text('purpose').notNull(),
  challenge: text('challenge').notNull(),
  subject: text('subject'),
  expiresAt: at('expires_at').notNull(),
});

export const pushSubscriptions = pgTable('web_push_subscriptions', {
  endpoint: text('endpoint').primaryKey(),
  approverId: text('approver_id').notNull(),
  subscription: jsonb('subscription').notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
});

/** Requests each approver has seen in their inbox, for its History section (the newest 30 per approver are kept). */
export const inboxHistory = pgTable(
  'web_inbox_history',
  {
    approverId: text('approver_id').notNull(),
    requestId: text('request_id').notNull(),
    seenAt: at('seen_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.approverId, t.requestId] }), index('web_inbox_history_seen').on(t.approverId, t.seenAt)],
);

/** One-time codes that pair a Passport with an approver: stored hashed, short-lived, used once. */
export const devicePairings = pgTable('web_device_pairings', {
  codeHash: text('code_hash').primaryKey(),
  approverId: text('approver_id').notNull(),
  name: text('name'),
  createdAt: at('created_at').notNull().defaultNow(),
  expiresAt: at('expires_at').notNull(),
  usedAt: at('used_at'),
});

/** Nonces of signed device calls, kept until they could no longer be fresh, so a call is accepted once across replicas. */
export const deviceNonces = pgTable('web_device_nonces', { key: text('key').primaryKey(), expiresAt: at('expires_at').notNull() }, (t) => [
  index('web_device_nonces_expires').on(t.expiresAt),
]);

/**
 * The built-in OAuth authorization server's state (gateway/oauth/): oidc-provider's models (clients registered with RFC
 * 7591, interactions, authorization codes, access and refresh tokens, grants) as one row each. Tokens and codes are
 * stored under a hash of their value (gateway/oauth/adapter.ts), so a copy of this table cannot call anything.
 */
export const oauthModels = pgTable(
  'web_oauth_models',
  {
    model: text('model').notNull(),
    id: text('id').notNull(),
    payload: jsonb('payload').notNull(),
    grantId: text('grant_id'),
    uid: text('uid'),
    expiresAt: at('expires_at'),
    consumedAt: at('consumed_at'),
  },
  (t) => [primaryKey({ columns: [t.model, t.id] }), index('web_oauth_models_grant').on(t.grantId), index('web_oauth_models_uid').on(t.uid)],
);

/** Each OAuth connection is an agent: which client it is, as shown at consent, and who consented. */
export const oauthConnections = pgTable('web_oauth_connections', {
  agentName: text('agent_name').primaryKey(),
  clientId: text('client_id').notNull(),
  clientName: text('client_name').notNull(),
  redirectHost: text('redirect_host').notNull(),
  approverId: text('approver_id').notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
  lastUsedAt: at('last_used_at'),
});
