import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq, isNull, ne, or, sql } from 'drizzle-orm';
import type { Db } from './store/db.ts';
import { agents, approvers, devices, passkeys } from './store/schema.ts';
import { KernelError } from './errors.ts';
import { sha256Hex } from './digest.ts';
import type { PasskeyInput } from './messages.ts';
import type { JsonObject, Principal } from './types.ts';

/** Who may act: agents (by hashed bearer token) and approvers (by their passkeys). */

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const hashToken = (token: string): string => sha256Hex('countersign/agent-token/v1\0', token);
const iso = (date: Date | null): string | null => date?.toISOString() ?? null;
const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;
type AgentRow = typeof agents.$inferSelect;
const agentView = (r: AgentRow) =>
  ({ id: r.id, name: r.name, owner: r.owner, createdAt: r.createdAt.toISOString(), revokedAt: iso(r.revokedAt), lastSeenAt: iso(r.lastSeenAt) });
export type AgentView = ReturnType<typeof agentView>;

const DEVICE_NAME = /^[^\p{Cc}\p{Cf}]{1,64}$/u;
type DeviceRow = typeof devices.$inferSelect;
const deviceView = (r: DeviceRow) =>
  ({ id: r.id, approverId: r.approverId, name: r.name, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: r.publicJwk.x ?? '' } as const, pairedAt: r.pairedAt.toISOString() });
export type DeviceView = ReturnType<typeof deviceView>;

/** Only an Ed25519 public key is accepted: a private part (`d`) means the device leaked its key, and is refused. */
function checkDeviceKey(jwk: JsonObject): string {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new KernelError('bad_request', 'publicJwk must be a JSON object (a JWK)');
  if ('d' in jwk) throw new KernelError('bad_request', 'publicJwk contains a private key ("d"); send only the public key, and generate a new key pair since this one has left the device');
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new KernelError('bad_request', `publicJwk must be an Ed25519 key (kty "OKP", crv "Ed25519"), got kty ${JSON.stringify(jwk.kty)}, crv ${JSON.stringify(jwk.crv)}`);
  if (typeof jwk.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x)) throw new KernelError('bad_request', 'publicJwk.x must be the 32-byte Ed25519 public key, base64url without padding (43 characters)');
  return jwk.x;
}

const approverView = (r: typeof approvers.$inferSelect, keys: (typeof passkeys.$inferSelect)[]) => ({
  id: r.id, email: r.email, roles: r.roles,
  passkeys: keys.map((k) => ({ id: k.id, name: k.name, createdAt: k.createdAt.toISOString(), lastUsedAt: iso(k.lastUsedAt) })),
});
export type ApproverView = ReturnType<typeof approverView>;

const principalOf = (r: AgentRow): Principal => ({ agentId: r.id, agentName: r.name, owner: r.owner });

export function createDirectory(db: Db) {
  // Every governed call authenticates its token and submits, and both need the agent row: the principal a look-up
  // found serves the token's authentications and submits for 2 s (`tokens` maps the hashes of valid tokens, one per
  // agent, to agent ids).
  // `forget`, once a revocation has committed here or another replica's revocation is signalled (NOTIFY), leaves a
  // marker that a look-up which began earlier cannot overwrite, so the token stops at once. Were a signal lost, 2 s at
  // most; writes are re-checked against the agent row in their claim transaction whatever this remembers.
  const recent = new Map<string, { principal: Principal | null; at: number }>();
  const tokens = new Map<string, string>();
  async function getApprover(by: { email?: string | null; approverId?: string | null }): Promise<ApproverView | null> {
    const [row] = await db.select().from(approvers).where(by.approverId ? eq(approvers.id, by.approverId) : eq(approvers.email, (by.email ?? '').toLowerCase()));
    if (!row) return null;
    return approverView(row, await db.select().from(passkeys).where(and(eq(passkeys.approverId, row.id), isNull(passkeys.removedAt))));
  }

  return {
    getApprover,

    /** Creates an agent and returns its bearer token, which is shown once and stored only as a hash. */
    async addAgent(name: string, owner: string): Promise<{ agent: AgentView; token: string }> {
      if (!AGENT_NAME.test(name)) throw new KernelError('bad_request', `agent name "${name}" is not valid: use 1-64 letters, digits, '_', '.' or '-'`);
      if (!EMAIL.test(owner)) throw new KernelError('bad_request', `owner "${owner}" is not an email address`);
      if ((await db.select().from(agents).where(eq(agents.name, name))).length > 0) throw new KernelError('bad_request', `an agent named "${name}" already exists; pick another name or revoke it first`);
      const token = `cs_agent_${randomBytes(32).toString('base64url')}`;
      const [row] = await db.insert(agents).values({ id: newId('agt'), name, owner, tokenHash: hashToken(token) }).returning();
      return { agent: agentView(row!), token };
    },

    listAgents: async (): Promise<AgentView[]> => (await db.select().from(agents).orderBy(agents.createdAt)).map(agentView),

    async revokeAgent(name: string): Promise<AgentView> {
      const [row] = await db.update(agents).set({ revokedAt: new Date() }).where(and(eq(agents.name, name), isNull(agents.revokedAt))).returning();
      if (!row) throw new KernelError('unknown_agent', `no active agent named "${name}"; see \`countersign agent list\``);
      return agentView(row);
    },

    /** The principal for a bearer token, or null: a revoked token stops working at once. */
    async authenticate(token: string): Promise<Principal | null> {
      const [started, hash] = [Date.now(), hashToken(token)];
      const hit = recent.get(tokens.get(hash) ?? '');
      if (hit?.principal && started - hit.at < 2000) return hit.principal;
      const [row] = await db.select().from(agents).where(eq(agents.tokenHash, hash));
      if (!row || row.revokedAt) return null;
      tokens.set(row.tokenHash, row.id);
      // Last-seen is for the dashboard; a minute of precision is enough and spares a write per call.
      const now = new Date();
      if (!row.lastSeenAt || now.getTime() - row.lastSeenAt.getTime() > 60_000) await db.update(agents).set({ lastSeenAt: now }).where(eq(agents.id, row.id));
      const principal = principalOf(row);
      if ((recent.get(row.id)?.at ?? -1) < started) recent.set(row.id, { principal, at: started });
      return principal;
    },

    /** Called once a revocation of the agent has committed: its remembered principal is gone. */
    forget: (agentId: string) => void recent.set(agentId, { principal: null, at: Date.now() }),

    /** The principal of an active agent by name (OAuth subjects name agents), or null. */
    async principalByName(name: string): Promise<Principal | null> {
      const [row] = await db.select().from(agents).where(and(eq(agents.name, name), isNull(agents.revokedAt)));
      return row ? principalOf(row) : null;
    },

    async principal(agentId: string): Promise<Principal> {
      const hit = recent.get(agentId);
      if (hit?.principal && Date.now() - hit.at < 2000) return hit.principal;
      const [row] = await db.select().from(agents).where(eq(agents.id, agentId));
      if (!row || row.revokedAt) throw new KernelError('unknown_agent', `agent ${agentId} does not exist or was revoked`);
      return principalOf(row);
    },

    async upsertApprover(email: string, roles: string[]): Promise<ApproverView> {
      const normalized = email.trim().toLowerCase();
      if (!EMAIL.test(normalized)) throw new KernelError('bad_request', `"${email}" is not an email address`);
      const [existing] = await db.select().from(approvers).where(eq(approvers.email, normalized));
      if (existing) await db.update(approvers).set({ roles: [...new Set([...existing.roles, ...roles])] }).where(eq(approvers.id, existing.id));
      else await db.insert(approvers).values({ id: newId('apr'), email: normalized, roles });
      return (await getApprover({ email: normalized }))!;
    },

    /** Adds and removes database roles (creating the approver if new); the sorted roles before, and the approver after. */
    async changeRoles(email: string, grant: string[], revoke: string[]): Promise<{ before: string[]; after: ApproverView }> {
      const before = [...((await getApprover({ email: email.trim() }))?.roles ?? [])].sort();
      const after = await this.upsertApprover(email, grant);
      const roles = after.roles.filter((r) => !revoke.includes(r)).sort();
      await db.update(approvers).set({ roles }).where(eq(approvers.id, after.id));
      return { before, after: { ...after, roles } };
    },

    async addPasskey(approverId: string, { id, publicKey, counter, transports, name }: PasskeyInput): Promise<void> {
      if (!(await getApprover({ approverId }))) throw new KernelError('bad_request', `no approver ${approverId}`);
      await db.insert(passkeys).values({ id, approverId, publicKey, counter, transports, name });
    },

    /** An active passkey and its owner, for verifying a sign-in or an approval. */
    async lookupPasskey(credentialId: string) {
      const [row] = await db
        .select({ p: passkeys, a: approvers })
        .from(passkeys)
        .innerJoin(approvers, eq(passkeys.approverId, approvers.id))
        .where(and(eq(passkeys.id, credentialId), isNull(passkeys.removedAt)));
      return row ? { id: row.p.id, publicKey: row.p.publicKey, counter: row.p.counter, transports: row.p.transports, approverId: row.a.id, email: row.a.email, roles: row.a.roles } : null;
    },

    async removePasskey(credentialId: string, approverId: string): Promise<void> {
      const where = and(eq(passkeys.id, credentialId), eq(passkeys.approverId, approverId), isNull(passkeys.removedAt));
      const [row] = await db.update(passkeys).set({ removedAt: new Date() }).where(where).returning();
      if (!row) throw new KernelError('bad_request', `no active passkey ${credentialId} for this approver`);
    },

    async addDevice(approverId: string, name: string, publicJwk: JsonObject): Promise<DeviceView> {
      const x = checkDeviceKey(publicJwk);
      if (typeof name !== 'string' || !DEVICE_NAME.test(name.trim())) throw new KernelError('bad_request', 'a device name must be 1-64 printable characters, e.g. "Jane\'s Passport"');
      if (!(await getApprover({ approverId }))) throw new KernelError('not_an_approver', `no approver ${approverId}`);
      // One key, one approver, one active pairing (also a unique index): one signature must never fill two quorum seats.
      const [taken] = await db.select().from(devices).where(and(sql`${devices.publicJwk}->>'x' = ${x}`, or(ne(devices.approverId, approverId), isNull(devices.removedAt))));
      if (taken) throw new KernelError('bad_request', 'this device key is already paired, to you or to someone else; a key belongs to one approver. Generate a new key on the device and pair again');
      const [row] = await db.insert(devices).values({ id: newId('dev'), approverId, name: name.trim(), publicJwk: { kty: 'OKP', crv: 'Ed25519', x } }).returning();
      return deviceView(row!);
    },

    async listDevices(approverId: string): Promise<DeviceView[]> {
      const rows = await db.select().from(devices).where(and(eq(devices.approverId, approverId), isNull(devices.removedAt))).orderBy(devices.pairedAt);
      return rows.map(deviceView);
    },

    async removeDevice(deviceId: string, approverId: string): Promise<DeviceView> {
      const where = and(eq(devices.id, deviceId), eq(devices.approverId, approverId), isNull(devices.removedAt));
      const [row] = await db.update(devices).set({ removedAt: new Date() }).where(where).returning();
      if (!row) throw new KernelError('bad_request', `no paired device ${deviceId} for this approver (unknown, someone else's, or already removed)`);
      return deviceView(row);
    },

    /** An active device and who it belongs to, or null when unknown or removed. */
    async lookupDevice(deviceId: string): Promise<(DeviceView & { email: string; roles: string[] }) | null> {
      const [row] = await db
        .select({ d: devices, a: approvers })
        .from(devices)
        .innerJoin(approvers, eq(devices.approverId, approvers.id))
        .where(and(eq(devices.id, deviceId), isNull(devices.removedAt)));
      return row ? { ...deviceView(row.d), email: row.a.email, roles: row.a.roles } : null;
    },
  };
}

export type Directory = ReturnType<typeof createDirectory>;
