import type { Capability } from './router.ts';

/**
 * What each service may send, in one place: for every service, the ops its code sends and nothing more. Whoever
 * registers a service on a router (in one process or across processes) grants it exactly its list here;
 * `test/unit/capabilities.test.ts` asserts the table as written and that no other code grants capabilities, so a
 * widened list (a `kernel:*` anywhere) fails a test. Connectors are named at run time, hence `connector.*`.
 */
export const CAPABILITIES = {
  kernel: ['connector.*:tools.list', 'connector.*:describe', 'connector.*:execute', 'connector.*:reconcile', 'notifier:approval.requested'],
  /**
   * The MCP gateway: authenticate agents, list tools, and their requests; for /metrics, the core's request metrics; and
   * stopping an agent's own running execution when the agent cancels its call (the connector checks whose it is).
   */
  gateway: ['kernel:agent.authenticate', 'kernel:agent.resolve', 'kernel:tools.list', 'kernel:request.submit', 'kernel:request.await', 'kernel:request.cancel', 'kernel:request.list', 'kernel:edge.refused', 'audit:audit.checkpoint', 'operator:metrics', 'connector.*:execution.cancel'],
  /** The approval web app and device API: approvers, their keys, decisions, and the audit dashboard. */
  web: [
    // A request only as the signed-in approver may see it (approvals.ts: mayView), never any request by id. The web
    // app's own tables (sessions, challenges, invites, pairing codes, nonces, history, push) only through webdb's closed
    // set of table ops (approval-web/store.ts), never a database handle.
    'kernel:approver.get', 'kernel:approver.upsert', 'kernel:passkey.add', 'kernel:passkey.lookup', 'kernel:passkey.touch',
    'kernel:passkey.remove', 'kernel:device.add', 'kernel:device.list', 'kernel:device.remove', 'kernel:device.lookup',
    'kernel:approval.inbox', 'kernel:approval.challenge', 'kernel:approval.decide', 'kernel:request.view', 'kernel:agent.revoke', 'kernel:agent.add',
    'kernel:edge.refused', 'audit:audit.requests', 'audit:audit.timeline', 'audit:audit.status', 'audit:audit.stats',
    'audit:audit.people', 'webdb:tables',
  ],
  notifier: ['kernel:approval.inbox', 'kernel:edge.refused'],
  /**
   * The admin CLI (through the admin socket when a server runs): agents, approvers' roles, looking up an approver; and
   * `policy explain`'s live intent and pins, which a connector's describe reads upstream (nothing runs).
   */
  admin: ['kernel:agent.add', 'kernel:agent.list', 'kernel:agent.revoke', 'kernel:approver.get', 'kernel:approver.roles', 'connector.*:describe'],
  /** A connector host: it consumes the grant it was handed, just before the upstream call; it tells the gateway an execution's upstream progress. */
  connector: ['kernel:grant.consume', 'gateway:execution.progress'],
  /** The audit reader, the web app's tables and the request metrics (gateway/operator/) only answer. */
  audit: [], webdb: [], operator: [],
} as const satisfies Record<string, readonly Capability[]>;

export type Service = keyof typeof CAPABILITIES;
