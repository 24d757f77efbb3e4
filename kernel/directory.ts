import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from './store/db.ts';
import { agents, approvers, passkeys } from './store/schema.ts';
import { KernelError } from './errors.ts';
import { sha256Hex } from './digest.ts';
import type { PasskeyInput } from './messages.ts';
import type { Principal } from './types.ts';

/** Who may act: agents (by hashed bearer token) and approvers (by their passkeys). */

export interface AgentView {
  id: string;
  name: string;
  owner: string;
  createdAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
}

export interface ApproverView {
  id: string;
  email: string;
  roles: string[];
  passkeys: { id: string; name: string; createdAt: string; lastUsedAt: string | null }[];
}

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

export const hashToken = (token: string): string => sha256Hex('countersign/agent-token/v1\0', token);
const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

function agentView(row: typeof agents.$inferSelect): AgentView {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    createdAt: row.createdAt.toISOString(),
    revokedAt: iso(row.revokedAt),
    lastSeenAt: iso(row.lastSeenAt),
  };
}

export function createDirectory(db: Db) {
  return {
    /** Creates an agent and returns its bearer token, which is shown once and stored only as a hash. */
    async addAgent(name: string, owner: string): Promise<{ agent: AgentView; token: string }> {
      if (!AGENT_NAME.test(name)) {
        throw new KernelError('bad_request', `agent name "${name}" is not valid: use 1-64 letters, digits, '_', '.' or '-'`);
      }
      if (!EMAIL.test(owner)) throw new KernelError('bad_request', `owner "${owner}" is not an email address`);
      const existing = await db.select().from(agents).where(eq(agents.name, name));
      if (existing.length > 0) {
        throw new KernelError('bad_request', `an agent named "${name}" already exists; pick another name or revoke it first`);
      }
      const token = `cs_agent_${randomBytes(32).toString('base64url')}`;
      const [row] = await db
        .insert(agents)
        .values({ id: `agt_${randomUUID().replaceAll('-', '')}`, name, owner, tokenHash: hashToken(token) })
        .returning();
      return { agent: agentView(row), token };
    },

    async listAgents(): Promise<AgentView[]> {
      const rows = await db.select().from(agents).orderBy(agents.createdAt);
      return rows.map(agentView);
    },

    async revokeAgent(name: string): Promise<AgentView> {
      const [row] = await db
        .update(agents)
        .set({ revokedAt: new Date() })
        .where(and(eq(agents.name, name), isNull(agents.revokedAt)))
        .returning();
      if (!row) throw new KernelError('unknown_agent', `no active agent named "${name}"; see \`countersign agent list\``);
      return agentView(row);
    },

    /** The principal for a bearer token, or null: a revoked token stops working at once. */
    async authenticate(token: string): Promise<Principal | null> {
      const [row] = await db.select().from(agents).where(eq(agents.tokenHash, hashToken(token)));
      if (!row || row.revokedAt) return null;
      const now = new Date();
      // Last-seen is for the dashboard; a minute of precision is enough and spares a write per call.
      if (!row.lastSeenAt || now.getTime() - row.lastSeenAt.getTime() > 60_000) {
        await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, row.id));
      }
      return { agentId: row.id, agentName: row.name, owner: row.owner };
    },

    /** The principal of an active agent by name (OAuth subjects name agents), or null. */
    async principalByName(name: string): Promise<Principal | null> {
      const [row] = await db.select().from(agents).where(and(eq(agents.name, name), isNull(agents.revokedAt)));
      return row ? { agentId: row.id, agentName: row.name, owner: row.owner } : null;
    },

    async principal(agentId: string): Promise<Principal> {
      const [row] = await db.select().from(agents).where(eq(agents.id, agentId));
      if (!row || row.revokedAt) throw new KernelError('unknown_agent', `agent ${agentId} does not exist or was revoked`);
      return { agentId: row.id, agentName: row.name, owner: row.owner };
    },

    async upsertApprover(email: string, roles: string[]): Promise<ApproverView> {
      const normalized = email.trim().toLowerCase();
      if (!EMAIL.test(normalized)) throw new KernelError('bad_request', `"${email}" is not an email address`);
      const [existing] = await db.select().from(approvers).where(eq(approvers.email, normalized));
      if (existing) {
        const merged = [...new Set([...existing.roles, ...roles])];
        await db.update(approvers).set({ roles: merged }).where(eq(approvers.id, existing.id));
      } else {
        await db.insert(approvers).values({ id: `apr_${randomUUID().replaceAll('-', '')}`, email: normalized, roles });
      }
      return (await this.getApprover({ email: normalized }))!;
    },

    async getApprover(by: { email?: string | null; approverId?: string | null }): Promise<ApproverView | null> {
      const condition = by.approverId ? eq(approvers.id, by.approverId) : eq(approvers.email, (by.email ?? '').toLowerCase());
      const [row] = await db.select().from(approvers).where(condition);
      if (!row) return null;
      const keys = await db
        .select()
        .from(passkeys)
        .where(and(eq(passkeys.approverId, row.id), isNull(passkeys.removedAt)));
      return {
        id: row.id,
        email: row.email,
        roles: row.roles,
        passkeys: keys.map((k) => ({ id: k.id, name: k.name, createdAt: k.createdAt.toISOString(), lastUsedAt: iso(k.lastUsedAt) })),
      };
    },

    async addPasskey(approverId: string, credential: PasskeyInput): Promise<void> {
      const approver = await this.getApprover({ approverId });
      if (!approver) throw new KernelError('bad_request', `no approver ${approverId}`);
      await db.insert(passkeys).values({
        id: credential.id,
        approverId,
        publicKey: credential.publicKey,
        counter: credential.counter,
        transports: credential.transports,
        name: credential.name,
      });
    },

    /** An active passkey and its owner, for verifying a sign-in or an approval. */
    async lookupPasskey(credentialId: string) {
      const [row] = await db
        .select({ passkey: passkeys, approver: approvers })
        .from(passkeys)
        .innerJoin(approvers, eq(passkeys.approverId, approvers.id))
        .where(and(eq(passkeys.id, credentialId), isNull(passkeys.removedAt)));
      if (!row) return null;
      return {
        id: row.passkey.id,
        publicKey: row.passkey.publicKey,
        counter: row.passkey.counter,
        transports: row.passkey.transports,
        approverId: row.approver.id,
        email: row.approver.email,
        roles: row.approver.roles,
      };
    },

    async removePasskey(credentialId: string, approverId: string): Promise<void> {
      const [row] = await db
        .update(passkeys)
        .set({ removedAt: new Date() })
        .where(and(eq(passkeys.id, credentialId), eq(passkeys.approverId, approverId), isNull(passkeys.removedAt)))
        .returning();
      if (!row) throw new KernelError('bad_request', `no active passkey ${credentialId} for this approver`);
    },
  };
}

export type Directory = ReturnType<typeof createDirectory>;
