import { z } from 'zod';
import { eq } from 'drizzle-orm';
import { CAPABILITIES, KernelError, type Db, type Json, type JsonObject, type Message, type Port, type Router } from '../kernel/index.ts';
import { storeChallenge, takeChallenge } from './challenges.ts';
import { claimPairingCode, createPairingCode, pairingCodeState, releasePairingCode, type PairingCode } from './devices/pairing.ts';
import { databaseNonces } from './devices/auth.ts';
import { createHistory } from './history.ts';
import { claimInvite, inviteStatus, releaseInvite, type InviteStatus } from './invites.ts';
import { pushSubscriptions } from './schema.ts';
import { createSession, findSession, revokeSession, type Session } from './sessions.ts';
import { oauthTables, type OAuthConnection, type OAuthRow } from './oauth-store.ts';

/**
 * The web app's own tables (sessions, challenges, invites, pairing codes, device nonces, inbox history, push
 * subscriptions) as a closed set of ops. The web app never holds a database handle: it sends these to the `webdb`
 * endpoint, which runs beside the database (in the kernel process when processes are isolated). Each op touches
 * only web tables, so a compromised edge can reach neither the kernel's tables nor SQL.
 */
export const WEBDB_OPS = {
  'session.create': z.tuple([z.string()]),
  'session.find': z.tuple([z.string()]),
  'session.revoke': z.tuple([z.string()]),
  'history.saw': z.tuple([z.string(), z.array(z.string()).max(500)]),
  'history.recent': z.tuple([z.string()]),
  'challenge.store': z.tuple([z.enum(['register', 'signin']), z.string(), z.string().nullable()]),
  'challenge.take': z.tuple([z.string(), z.enum(['register', 'signin']), z.string().nullable()]),
  'invite.status': z.tuple([z.string()]),
  'invite.claim': z.tuple([z.string()]),
  'invite.release': z.tuple([z.string()]),
  'pairing.create': z.tuple([z.object({ approverId: z.string(), name: z.string().nullable().optional() })]),
  'pairing.claim': z.tuple([z.string()]),
  'pairing.state': z.tuple([z.string()]),
  'pairing.release': z.tuple([z.string()]),
  'nonce.remember': z.tuple([z.string()]),
  'push.subscribe': z.tuple([z.string(), z.object({ endpoint: z.string(), expirationTime: z.number().nullable(), keys: z.object({ p256dh: z.string(), auth: z.string() }) })]),
  // The OAuth authorization server's models (gateway/oauth/adapter.ts) and connections (approval-web/oauth-store.ts).
  'oauth.upsert': z.tuple([z.string().max(64), z.string().max(512), z.record(z.string(), z.json()), z.number().nullable(), z.string().max(512).nullable(), z.string().max(512).nullable()]),
  'oauth.find': z.tuple([z.string().max(64), z.string().max(512)]),
  'oauth.findByUid': z.tuple([z.string().max(64), z.string().max(512)]),
  'oauth.consume': z.tuple([z.string().max(64), z.string().max(512)]),
  'oauth.destroy': z.tuple([z.string().max(64), z.string().max(512)]),
  'oauth.revokeGrant': z.tuple([z.string().max(512)]),
  'oauth.revokeAccount': z.tuple([z.string().max(512)]),
  'oauth.connect': z.tuple([z.object({ agentName: z.string(), clientId: z.string(), clientName: z.string(), redirectHost: z.string(), approverId: z.string() })]),
  'oauth.connections': z.tuple([]),
  'oauth.touch': z.tuple([z.string()]),
} as const;
export type WebDbOp = keyof typeof WEBDB_OPS;

export interface WebStore {
  createSession(approverId: string): Promise<{ id: string; session: Session }>;
  findSession(id: string): Promise<Session | null>;
  revokeSession(id: string): Promise<void>;
  historySaw(approverId: string, requestIds: readonly string[]): Promise<void>;
  historyRecent(approverId: string): Promise<string[]>;
  storeChallenge(purpose: 'register' | 'signin', challenge: string, subject: string | null): Promise<string>;
  takeChallenge(id: string, purpose: 'register' | 'signin', subject: string | null): Promise<string | null>;
  inviteStatus(token: string): Promise<InviteStatus>;
  claimInvite(token: string): Promise<{ email: string; role: string | null } | null>;
  releaseInvite(token: string): Promise<void>;
  createPairingCode(options: { approverId: string; name?: string | null }): Promise<PairingCode>;
  claimPairingCode(code: string): Promise<{ approverId: string; name: string | null } | null>;
  pairingCodeState(code: string): Promise<'used' | 'expired' | 'unknown'>;
  releasePairingCode(code: string): Promise<void>;
  /** True when the device nonce is new (and now recorded), false when it was seen: a replay. */
  rememberNonce(key: string): Promise<boolean>;
  /** Stores an approver's push subscription; false when the endpoint belongs to another approver. */
  subscribePush(approverId: string, value: { endpoint: string; expirationTime: number | null; keys: { p256dh: string; auth: string } }): Promise<boolean>;
  /** The OAuth authorization server's rows and its connections (each an agent). */
  oauth: OAuthStore;
}

/** approval-web/oauth-store.ts over the wire. */
export interface OAuthStore {
  upsert(model: string, id: string, payload: JsonObject, expiresInSeconds: number | null, grantId: string | null, uid: string | null): Promise<void>;
  find(model: string, id: string): Promise<OAuthRow | null>;
  findByUid(model: string, uid: string): Promise<OAuthRow | null>;
  consume(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  revokeGrant(grantId: string): Promise<number>;
  revokeAccount(accountId: string): Promise<number>;
  connect(connection: Omit<OAuthConnection, 'createdAt' | 'lastUsedAt' | 'apps'>): Promise<void>;
  connections(): Promise<OAuthConnection[]>;
  touch(agentName: string): Promise<void>;
}

/** The ops run against the database; `op` maps the wire name onto it. */
function local(db: Db): Record<WebDbOp, (...args: never[]) => Promise<unknown>> {
  const history = createHistory(db);
  const nonces = databaseNonces(db);
  const oauth = oauthTables(db);
  return {
    'session.create': (approverId: string) => createSession(db, approverId),
    'session.find': (id: string) => findSession(db, id),
    'session.revoke': (id: string) => revokeSession(db, id),
    'history.saw': (approverId: string, ids: string[]) => history.saw(approverId, ids),
    'history.recent': (approverId: string) => history.recent(approverId),
    'challenge.store': (purpose: 'register' | 'signin', challenge: string, subject: string | null) => storeChallenge(db, purpose, challenge, subject),
    'challenge.take': (id: string, purpose: 'register' | 'signin', subject: string | null) => takeChallenge(db, id, purpose, subject),
    'invite.status': (token: string) => inviteStatus(db, token),
    'invite.claim': (token: string) => claimInvite(db, token),
    'invite.release': (token: string) => releaseInvite(db, token),
    'pairing.create': (options: { approverId: string; name?: string | null }) => createPairingCode(db, options),
    'pairing.claim': (code: string) => claimPairingCode(db, code),
    'pairing.state': (code: string) => pairingCodeState(db, code),
    'pairing.release': (code: string) => releasePairingCode(db, code),
    'nonce.remember': (key: string) => nonces.remember(key),
    'push.subscribe': async (approverId: string, value: { endpoint: string }) => {
      // Insert, or refresh the keys of my own registration; a row of another approver stays theirs.
      const rows = await db
        .insert(pushSubscriptions)
        .values({ endpoint: value.endpoint, approverId, subscription: value })
        .onConflictDoUpdate({ target: pushSubscriptions.endpoint, set: { subscription: value }, setWhere: eq(pushSubscriptions.approverId, approverId) })
        .returning({ endpoint: pushSubscriptions.endpoint });
      return rows.length > 0;
    },
    'oauth.upsert': (model: string, id: string, payload: JsonObject, ttl: number | null, grantId: string | null, uid: string | null) => oauth.upsert(model, id, payload, ttl, grantId, uid),
    'oauth.find': (model: string, id: string) => oauth.find(model, id),
    'oauth.findByUid': (model: string, uid: string) => oauth.findByUid(model, uid),
    'oauth.consume': (model: string, id: string) => oauth.consume(model, id),
    'oauth.destroy': (model: string, id: string) => oauth.destroy(model, id),
    'oauth.revokeGrant': (grantId: string) => oauth.revokeGrant(grantId),
    'oauth.revokeAccount': (accountId: string) => oauth.revokeAccount(accountId),
    'oauth.connect': (c: Omit<OAuthConnection, 'createdAt' | 'lastUsedAt' | 'apps'>) => oauth.connect(c),
    'oauth.connections': () => oauth.connections(),
    'oauth.touch': (agentName: string) => oauth.touch(agentName),
  };
}

/**
 * Runs one webdb message against the database: `{op: 'tables', call, args}`, where `call` must be one of WEBDB_OPS and
 * its arguments well-formed. One capability (`webdb:tables`) covers them: they are all the web app's own tables.
 */
function handler(db: Db): (body: Message) => Promise<Json> {
  const ops = local(db);
  return async (body) => {
    const op = body.call as WebDbOp;
    if (body.op !== 'tables' || typeof op !== 'string' || !Object.hasOwn(WEBDB_OPS, op)) throw new KernelError('bad_request', `unknown webdb op "${String(body.call ?? body.op)}"`);
    const args = WEBDB_OPS[op].safeParse(body.args);
    if (!args.success) throw new KernelError('bad_request', `bad arguments for webdb ${op}`);
    const value = await (ops[op] as (...a: unknown[]) => Promise<unknown>)(...(args.data as unknown[]));
    // Plain data, the same in one process and across processes: dates become ISO strings here.
    return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as Json);
  };
}

/** Registers the `webdb` endpoint beside the database. It answers only. */
export function serveWebStore(router: Router, db: Db): Port {
  const handle = handler(db);
  return router.register('webdb', ({ body }) => handle(body), CAPABILITIES.webdb);
}

/** The same ops straight on a database handle (tests, benches, and one-process setups that pass `db`). */
export function dbWebStore(db: Db): WebStore {
  const handle = handler(db);
  return storeOver((message) => handle(message));
}

const revive = <T extends { expiresAt: unknown } | null>(value: T): T => (value && typeof value.expiresAt === 'string' ? { ...value, expiresAt: new Date(value.expiresAt) } : value);

/** The web app's store: every op is one message to `webdb` through the web app's router port. */
export function remoteWebStore(port: Port): WebStore {
  return storeOver((message) => port.send('webdb', message));
}

function storeOver(call: (message: { op: 'tables'; call: WebDbOp; args: Json[] }) => Promise<Json>): WebStore {
  const send = async <T>(message: { op: WebDbOp; args: Json[] }): Promise<T> => (await call({ op: 'tables', call: message.op, args: message.args })) as T;
  return {
    createSession: async (approverId) => {
      const { id, session } = await send<{ id: string; session: Session }>({ op: 'session.create', args: [approverId] });
      return { id, session: revive(session) };
    },
    findSession: async (id) => revive(await send<Session | null>({ op: 'session.find', args: [id] })),
    revokeSession: (id) => send({ op: 'session.revoke', args: [id] }),
    historySaw: (approverId, ids) => send({ op: 'history.saw', args: [approverId, [...ids]] }),
    historyRecent: (approverId) => send({ op: 'history.recent', args: [approverId] }),
    storeChallenge: (purpose, challenge, subject) => send({ op: 'challenge.store', args: [purpose, challenge, subject] }),
    takeChallenge: (id, purpose, subject) => send({ op: 'challenge.take', args: [id, purpose, subject] }),
    inviteStatus: async (token) => {
      const status = await send<InviteStatus>({ op: 'invite.status', args: [token] });
      return status.state === 'valid' ? revive(status) : status;
    },
    claimInvite: (token) => send({ op: 'invite.claim', args: [token] }),
    releaseInvite: (token) => send({ op: 'invite.release', args: [token] }),
    createPairingCode: async (options) => revive(await send<PairingCode>({ op: 'pairing.create', args: [{ approverId: options.approverId, name: options.name ?? null }] })),
    claimPairingCode: (code) => send({ op: 'pairing.claim', args: [code] }),
    pairingCodeState: (code) => send({ op: 'pairing.state', args: [code] }),
    releasePairingCode: (code) => send({ op: 'pairing.release', args: [code] }),
    rememberNonce: (key) => send({ op: 'nonce.remember', args: [key] }),
    subscribePush: (approverId, value) => send({ op: 'push.subscribe', args: [approverId, value] }),
    oauth: {
      upsert: (model, id, payload, ttl, grantId, uid) => send({ op: 'oauth.upsert', args: [model, id, payload, ttl, grantId, uid] }),
      find: (model, id) => send({ op: 'oauth.find', args: [model, id] }),
      findByUid: (model, uid) => send({ op: 'oauth.findByUid', args: [model, uid] }),
      consume: (model, id) => send({ op: 'oauth.consume', args: [model, id] }),
      destroy: (model, id) => send({ op: 'oauth.destroy', args: [model, id] }),
      revokeGrant: (grantId) => send({ op: 'oauth.revokeGrant', args: [grantId] }),
      revokeAccount: (accountId) => send({ op: 'oauth.revokeAccount', args: [accountId] }),
      connect: (c) => send({ op: 'oauth.connect', args: [{ ...c }] }),
      connections: () => send({ op: 'oauth.connections', args: [] }),
      touch: (agentName) => send({ op: 'oauth.touch', args: [agentName] }),
    },
  };
}
