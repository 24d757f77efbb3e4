import { asc, eq } from 'drizzle-orm';
import { KernelError, schema, type Db, type Json } from '../../kernel/index.ts';
import type { Timeline } from './messages.ts';

const { agents, approvers, auditEntries, decisions, devices, passkeys, requests } = schema;

/**
 * A request and everything the chain says about it, in seq order, with each entry's seq and hash so a reader can
 * find it in an export. Decisions come from their table, joined to the passkey or device that signed them.
 */
export async function timeline(db: Db, requestId: string): Promise<Timeline> {
  if (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 200) {
    throw new KernelError('bad_request', 'audit.timeline needs a requestId: the id shown in the request list');
  }
  const [request] = await db
    .select({ request: requests, agentName: agents.name })
    .from(requests)
    .leftJoin(agents, eq(agents.id, requests.agentId))
    .where(eq(requests.id, requestId));
  if (!request) throw new KernelError('unknown_request', `no request ${requestId}; pick one from the request list`);
  const entries = await db.select().from(auditEntries).where(eq(auditEntries.requestId, requestId)).orderBy(asc(auditEntries.seq));
  const decided = await db
    .select({
      decision: decisions,
      email: approvers.email,
      passkeyName: passkeys.name,
      deviceName: devices.name,
    })
    .from(decisions)
    .leftJoin(approvers, eq(approvers.id, decisions.approverId))
    .leftJoin(passkeys, eq(passkeys.id, decisions.keyId))
    .leftJoin(devices, eq(devices.id, decisions.keyId))
    .where(eq(decisions.requestId, requestId))
    .orderBy(asc(decisions.createdAt));
  const r = request.request;
  return {
    request: {
      id: r.id,
      digest: r.digest,
      createdAt: r.createdAt.toISOString(),
      updatedAt: r.updatedAt.toISOString(),
      agentId: r.agentId,
      agentName: request.agentName,
      tool: r.tool,
      state: r.state,
      intent: r.intent as unknown as Json,
      verdict: r.verdict as unknown as Json,
      body: r.body as unknown as Json,
      result: (r.result ?? null) as unknown as Json,
      error: (r.error ?? null) as unknown as Json,
    },
    entries: entries.map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, actor: e.actor, data: e.data as Json, hash: e.hash ?? '' })),
    decisions: decided.map(({ decision: d, email, passkeyName, deviceName }) => ({
      approverId: d.approverId,
      approverEmail: email,
      decision: d.decision,
      reason: d.reason,
      evidenceKind: d.evidenceKind,
      keyId: d.keyId,
      keyName: (d.evidenceKind === 'device' ? deviceName : passkeyName) ?? null,
      at: d.createdAt.toISOString(),
    })),
  };
}
