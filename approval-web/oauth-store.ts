import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db, JsonObject } from '../kernel/index.ts';
import { oauthConnections, oauthModels } from './schema.ts';

/**
 * The OAuth authorization server's rows (gateway/oauth/), as plain ops the `webdb` endpoint runs. Ids arrive already
 * hashed for token-like models (the adapter does it), so this file never sees a usable token or code.
 */

export interface OAuthRow {
  payload: JsonObject;
  consumed: boolean;
}

/** One app acting as an agent through a live grant (several apps may act as one agent). */
export interface ConnectedApp {
  clientId: string;
  /** What the app calls itself: its author is the app. */
  clientName: string;
  redirectHost: string;
  connectedAt: string;
}

export interface OAuthConnection {
  agentName: string;
  clientId: string;
  clientName: string;
  redirectHost: string;
  approverId: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** The apps whose grants are live now, oldest first; empty once every grant was revoked or expired. */
  apps: ConnectedApp[];
}

// gt(), not a raw sql template: the column maps the Date for the driver (postgres.js was sent Date#toString and refused it).
const liveAt = (now: Date) => or(isNull(oauthModels.expiresAt), gt(oauthModels.expiresAt, now));

export function oauthTables(db: Db) {
  return {
    async upsert(model: string, id: string, payload: JsonObject, expiresInSeconds: number | null, grantId: string | null, uid: string | null): Promise<void> {
      const expiresAt = expiresInSeconds ? new Date(Date.now() + expiresInSeconds * 1000) : null;
      await db
        .insert(oauthModels)
        .values({ model, id, payload, expiresAt, grantId, uid })
        .onConflictDoUpdate({ target: [oauthModels.model, oauthModels.id], set: { payload, expiresAt, grantId, uid } });
      // Expired rows are swept now and then by whoever writes, so the table stays the size of what is live.
      if (Math.random() < 0.02) await db.delete(oauthModels).where(lt(oauthModels.expiresAt, new Date()));
    },
    async find(model: string, id: string): Promise<OAuthRow | null> {
      const [row] = await db.select().from(oauthModels).where(and(eq(oauthModels.model, model), eq(oauthModels.id, id), liveAt(new Date())));
      return row ? { payload: row.payload as JsonObject, consumed: row.consumedAt !== null } : null;
    },
    async findByUid(model: string, uid: string): Promise<OAuthRow | null> {
      const [row] = await db.select().from(oauthModels).where(and(eq(oauthModels.model, model), eq(oauthModels.uid, uid), liveAt(new Date())));
      return row ? { payload: row.payload as JsonObject, consumed: row.consumedAt !== null } : null;
    },
    /** Marks a code or refresh token used; true when this call was the one that used it. */
    async consume(model: string, id: string): Promise<boolean> {
      const rows = await db
        .update(oauthModels)
        .set({ consumedAt: new Date() })
        .where(and(eq(oauthModels.model, model), eq(oauthModels.id, id), isNull(oauthModels.consumedAt)))
        .returning({ id: oauthModels.id });
      return rows.length > 0;
    },
    async destroy(model: string, id: string): Promise<void> {
      await db.delete(oauthModels).where(and(eq(oauthModels.model, model), eq(oauthModels.id, id)));
    },
    /** Deletes every row of a grant (tokens, codes, the grant itself): the whole family at once. */
    async revokeGrant(grantId: string): Promise<number> {
      const rows = await db.delete(oauthModels).where(eq(oauthModels.grantId, grantId)).returning({ id: oauthModels.id });
      await db.delete(oauthModels).where(and(eq(oauthModels.model, 'Grant'), eq(oauthModels.id, grantId)));
      return rows.length;
    },
    /** Deletes every grant and token held by one connection's agent (Disconnect; the agent is revoked beside it). */
    async revokeAccount(accountId: string): Promise<number> {
      const rows = await db.delete(oauthModels).where(sql`${oauthModels.payload}->>'accountId' = ${accountId}`).returning({ id: oauthModels.id });
      return rows.length;
    },
    async connect(c: Omit<OAuthConnection, 'createdAt' | 'lastUsedAt' | 'apps'>): Promise<void> {
      await db
        .insert(oauthConnections)
        .values(c)
        .onConflictDoUpdate({ target: oauthConnections.agentName, set: { clientId: c.clientId, clientName: c.clientName, redirectHost: c.redirectHost, approverId: c.approverId } });
    },
    async connections(): Promise<OAuthConnection[]> {
      const rows = await db.select().from(oauthConnections).orderBy(oauthConnections.createdAt);
      // Written beside each grant by the authorization server (gateway/oauth/index.ts), deleted with its family.
      const live = await db.select({ payload: oauthModels.payload }).from(oauthModels).where(and(eq(oauthModels.model, 'Connection'), liveAt(new Date())));
      const apps = new Map<string, ConnectedApp[]>();
      for (const { payload } of live) {
        const p = payload as Record<string, unknown>;
        const app = { clientId: String(p.clientId ?? ''), clientName: String(p.clientName ?? ''), redirectHost: String(p.redirectHost ?? ''), connectedAt: String(p.connectedAt ?? '') };
        apps.set(String(p.accountId), [...(apps.get(String(p.accountId)) ?? []), app].sort((a, b) => a.connectedAt.localeCompare(b.connectedAt)));
      }
      return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString(), lastUsedAt: r.lastUsedAt?.toISOString() ?? null, apps: apps.get(r.agentName) ?? [] }));
    },
    /** Last use, for the Agents list; a minute of precision spares a write per call. */
    async touch(agentName: string): Promise<void> {
      const now = new Date();
      const stale = or(isNull(oauthConnections.lastUsedAt), lt(oauthConnections.lastUsedAt, new Date(now.getTime() - 60_000)));
      await db.update(oauthConnections).set({ lastUsedAt: now }).where(and(eq(oauthConnections.agentName, agentName), stale));
    },
  };
}
