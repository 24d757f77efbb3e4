import { asc, eq, max } from 'drizzle-orm';
import { schema, type Db } from '../../kernel/index.ts';
import type { People } from './messages.ts';

const { agents, approvers, decisions, devices, passkeys, requests } = schema;

const iso = (value: Date | string | null | undefined): string | null => (value ? new Date(value).toISOString() : null);

/** Agents with their last activity, approvers with their passkeys, devices and last decision. */
export async function people(db: Db): Promise<People> {
  const lastRequest = db
    .select({ agentId: requests.agentId, at: max(requests.createdAt).as('last_request_at') })
    .from(requests)
    .groupBy(requests.agentId)
    .as('last_request');
  const agentRows = await db
    .select({ agent: agents, lastRequestAt: lastRequest.at })
    .from(agents)
    .leftJoin(lastRequest, eq(lastRequest.agentId, agents.id))
    .orderBy(asc(agents.name));
  const lastDecision = db
    .select({ approverId: decisions.approverId, at: max(decisions.createdAt).as('last_decision_at') })
    .from(decisions)
    .groupBy(decisions.approverId)
    .as('last_decision');
  const approverRows = await db
    .select({ approver: approvers, lastDecisionAt: lastDecision.at })
    .from(approvers)
    .leftJoin(lastDecision, eq(lastDecision.approverId, approvers.id))
    .orderBy(asc(approvers.email));
  const keys = await db.select().from(passkeys).orderBy(asc(passkeys.createdAt));
  const paired = await db.select().from(devices).orderBy(asc(devices.pairedAt));

  return {
    agents: agentRows.map(({ agent, lastRequestAt }) => ({
      id: agent.id,
      name: agent.name,
      owner: agent.owner,
      createdAt: agent.createdAt.toISOString(),
      revokedAt: iso(agent.revokedAt),
      lastSeenAt: iso(agent.lastSeenAt),
      lastRequestAt: iso(lastRequestAt),
    })),
    approvers: approverRows.map(({ approver, lastDecisionAt }) => ({
      id: approver.id,
      email: approver.email,
      roles: approver.roles,
      lastSeenAt: iso(approver.lastSeenAt),
      lastDecisionAt: iso(lastDecisionAt),
      passkeys: keys
        .filter((k) => k.approverId === approver.id)
        .map((k) => ({ id: k.id, name: k.name, createdAt: k.createdAt.toISOString(), lastUsedAt: iso(k.lastUsedAt), removedAt: iso(k.removedAt) })),
      devices: paired
        .filter((d) => d.approverId === approver.id)
        .map((d) => ({ id: d.id, name: d.name, pairedAt: d.pairedAt.toISOString(), removedAt: iso(d.removedAt) })),
    })),
  };
}
