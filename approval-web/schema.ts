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
