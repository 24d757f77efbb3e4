import { KernelError, type AgentView, type Db, type JsonObject, type Port } from '../../kernel/index.ts';
import { createInvite } from '../../approval-web/invites.ts';
import { oauthTables, type OAuthConnection } from '../../approval-web/oauth-store.ts';
import { FLAG_TEXT, inspect } from '../../approval-web/hygiene.ts';
import { stdioLaunch } from '../invocation.ts';

/**
 * `countersign agent add|list|revoke`. Each returns what to print and the exit code; with `json` stdout is exactly
 * one JSON object. The token is printed once, here, and never again: the kernel keeps only its hash.
 */

export interface CommandOutput {
  exitCode: number;
  stdout: string;
}

/** Where the commands send kernel ops: an admin port, or the running services (which hold one). */
export type AgentTarget = Port | { admin: Port; publicUrl: string; database?: { db: Db }; config?: { roles: Record<string, string[]> } };

const rolesOf = (target: AgentTarget) => ('send' in target ? {} : (target.config?.roles ?? {}));

function portOf(target: AgentTarget): Port {
  return 'send' in target ? target : target.admin;
}

function failure(error: unknown, json: boolean | undefined, command: string): CommandOutput {
  if (!(error instanceof KernelError)) throw error;
  const exitCode = error.code === 'bad_request' || error.code === 'unknown_agent' ? 2 : 1;
  return { exitCode, stdout: json ? JSON.stringify({ error: error.toJSON() }) + '\n' : `countersign ${command}: ${error.message}\n` };
}

/**
 * Ready-to-paste configuration for the clients people use most. Clients that speak Streamable HTTP get the URL and the
 * token; Claude Desktop, which only launches commands, gets the stdio bridge as absolute node and script paths, so it
 * starts from whatever directory (and PATH) the app launches it with.
 */
export function clientConfigs(publicUrl: string, token: string) {
  const origin = publicUrl.replace(/\/$/, '');
  const url = `${origin}/mcp`;
  const headers = { Authorization: `Bearer ${token}` };
  const claudeCode = `claude mcp add --transport http countersign ${url} --header "Authorization: Bearer ${token}"`;
  const claudeDesktop = {
    mcpServers: { countersign: { ...stdioLaunch(), env: { COUNTERSIGN_URL: origin, COUNTERSIGN_TOKEN: token } } },
  };
  const cursor = { mcpServers: { countersign: { url, headers } } };
  const vscode = { servers: { countersign: { type: 'http', url, headers } } };
  const openaiAgents = [
    'from agents.mcp import MCPServerStreamableHttp',
    '',
    'countersign = MCPServerStreamableHttp(',
    `    params={"url": "${url}", "headers": {"Authorization": "Bearer ${token}"}},`,
    '    name="countersign",',
    '    client_session_timeout_seconds=60,',
    ')',
  ].join('\n');
  return { mcpUrl: url, claudeCode, claudeDesktop, cursor, vscode, openaiAgents };
}

/**
 * `countersign agent add NAME --owner EMAIL`: creates the agent, prints its token once with client configs. When the
 * owner has no passkey yet, also prints an enrollment link for them, since approvals would otherwise wait for nobody.
 */
export async function agentAdd(
  target: AgentTarget,
  options: { name: string; owner: string; json?: boolean; publicUrl?: string; cli?: string },
): Promise<CommandOutput> {
  const cli = options.cli ?? 'countersign';
  const port = portOf(target);
  const publicUrl = (options.publicUrl ?? ('send' in target ? undefined : target.publicUrl) ?? 'http://localhost:8787').replace(/\/$/, '');
  let added: { agent: AgentView; token: string };
  try {
    added = (await port.send('kernel', { op: 'agent.add', name: options.name, owner: options.owner })) as unknown as typeof added;
  } catch (error) {
    return failure(error, options.json, 'agent add');
  }
  const configs = clientConfigs(publicUrl, added.token);
  const enrollmentUrl = await ownerEnrollment(target, port, added.agent.owner, publicUrl);
  if (options.json) {
    const out = { agent: added.agent, token: added.token, ...configs, ownerEnrollmentUrl: enrollmentUrl };
    return { exitCode: 0, stdout: JSON.stringify(out) + '\n' };
  }
  const lines = [
    `Agent "${added.agent.name}" created (owner ${added.agent.owner}).`,
    '',
    'Its token, shown only this once (Countersign stores only a hash):',
    '',
    `  ${added.token}`,
    '',
    'Claude Code:',
    '',
    `  ${configs.claudeCode}`,
    '',
    'Claude Desktop (claude_desktop_config.json; the stdio bridge, by absolute path so it starts from anywhere):',
    '',
    JSON.stringify(configs.claudeDesktop, null, 2).replace(/^/gm, '  '),
    '',
    'Cursor (~/.cursor/mcp.json):',
    '',
    JSON.stringify(configs.cursor, null, 2).replace(/^/gm, '  '),
    '',
    'VS Code (.vscode/mcp.json):',
    '',
    JSON.stringify(configs.vscode, null, 2).replace(/^/gm, '  '),
    '',
    'OpenAI Agents SDK (Python):',
    '',
    configs.openaiAgents.replace(/^/gm, '  '),
    '',
  ];
  if (enrollmentUrl) {
    lines.push(
      `${added.agent.owner} has no passkey yet, so nobody can approve this agent's requests. Send them this one-time enrollment link:`,
      '',
      `  ${enrollmentUrl}`,
      '',
    );
  }
  lines.push(
    `Requests wait for ${added.agent.owner} unless a policy rule names a role. To let them approve what a role approves:`,
    '',
    `  ${cli} approver grant ${added.agent.owner} ROLE...      (roles: ${Object.keys(rolesOf(target)).join(', ') || 'none defined yet'})`,
    '',
  );
  return { exitCode: 0, stdout: lines.join('\n') };
}

/** An enrollment link when the owner has no passkey and the database is at hand; null otherwise. */
async function ownerEnrollment(target: AgentTarget, port: Port, owner: string, publicUrl: string): Promise<string | null> {
  if ('send' in target || !target.database) return null;
  const approver = (await port.send('kernel', { op: 'approver.get', email: owner, approverId: null })) as JsonObject | null;
  const keys = approver && Array.isArray(approver.passkeys) ? approver.passkeys : [];
  if (keys.length > 0) return null;
  const invite = await createInvite(target.database.db, { email: owner, role: null, publicUrl });
  return invite.url;
}

/** An OAuth connection as `agent list` shows it: the app, as it named itself, and when it last called. */
type ConnectionView = Pick<OAuthConnection, 'clientId' | 'clientName' | 'redirectHost' | 'createdAt' | 'lastUsedAt' | 'apps'>;

/** The OAuth connections by agent name, when the database is at hand (the CLI's services); none through a bare port. */
async function connectionsOf(target: AgentTarget): Promise<Map<string, ConnectionView>> {
  if ('send' in target || !target.database) return new Map();
  const rows = await oauthTables(target.database.db).connections();
  return new Map(rows.map(({ agentName, clientId, clientName, redirectHost, createdAt, lastUsedAt, apps }) => [agentName, { clientId, clientName, redirectHost, createdAt, lastUsedAt, apps }]));
}

/** The later of two ISO times, or null. */
const later = (a: string | null, b: string | null) => (a && b ? (a > b ? a : b) : (a ?? b));

/** An app's self-chosen name through the web page's hygiene: hidden characters as visible escapes, flags spelled out. */
function printable(text: string): string {
  const { pieces, flags } = inspect(text);
  return `"${pieces.map((p) => p.text).join('')}"${flags.map((f) => ` (! ${FLAG_TEXT[f]})`).join('')}`;
}

/**
 * `countersign agent list`: every agent, revoked ones marked; an agent that is an OAuth connection (claude.ai, ChatGPT)
 * says so, with the app's name for itself and when the connection was last used.
 */
export async function agentList(target: AgentTarget, options: { json?: boolean; cli?: string } = {}): Promise<CommandOutput> {
  const [agents, connections] = await Promise.all([portOf(target).send('kernel', { op: 'agent.list' }) as unknown as Promise<AgentView[]>, connectionsOf(target)]);
  if (options.json) return { exitCode: 0, stdout: JSON.stringify({ agents: agents.map((a) => ({ ...a, connection: connections.get(a.name) ?? null })) }) + '\n' };
  if (agents.length === 0) return { exitCode: 0, stdout: `No agents yet. Add one: ${options.cli ?? 'countersign'} agent add NAME --owner EMAIL\n` };
  const rows = agents.flatMap((a) => {
    const state = a.revokedAt ? `revoked ${a.revokedAt}` : 'active';
    const connection = connections.get(a.name);
    const row = `${a.name.padEnd(24)} ${a.owner.padEnd(28)} ${state.padEnd(34)} last seen ${later(a.lastSeenAt, connection?.lastUsedAt ?? null) ?? 'never'}`;
    if (!connection) return [row];
    const name = (app: { clientName: string }) => (app.clientName ? printable(app.clientName) : '(no name given)');
    const apps = connection.apps.map((app) => `${''.padEnd(24)} OAuth connection: app ${name(app)}, returns to ${app.redirectHost || '?'}, connected ${app.connectedAt}`);
    const none = `${''.padEnd(24)} OAuth connection: no app connected now (revoked or expired; last ${name(connection)})`;
    return [row, ...(apps.length ? apps : [none]), `${''.padEnd(24)} OAuth last used ${connection.lastUsedAt ?? 'never'}`];
  });
  return { exitCode: 0, stdout: `${'NAME'.padEnd(24)} ${'OWNER'.padEnd(28)} ${'STATE'.padEnd(34)} ACTIVITY\n${rows.join('\n')}\n` };
}

/**
 * `countersign agent revoke NAME`: the token stops working at once. An OAuth connection's grants and tokens (the
 * whole refresh family) are deleted with it, as Disconnect on the Agents page does.
 */
export async function agentRevoke(target: AgentTarget, options: { name: string; json?: boolean }): Promise<CommandOutput> {
  try {
    const agent = (await portOf(target).send('kernel', { op: 'agent.revoke', name: options.name })) as unknown as AgentView;
    const oauthTokens = 'send' in target || !target.database ? 0 : await oauthTables(target.database.db).revokeAccount(agent.name);
    if (options.json) return { exitCode: 0, stdout: JSON.stringify({ agent, oauthTokensRevoked: oauthTokens }) + '\n' };
    const oauth = oauthTokens > 0 ? ` Its OAuth connection is cut: ${oauthTokens} grant and token record(s) deleted, so the app must be connected again.` : '';
    return { exitCode: 0, stdout: `Agent "${agent.name}" revoked at ${agent.revokedAt}; its token no longer works.${oauth}\n` };
  } catch (error) {
    return failure(error, options.json, 'agent revoke');
  }
}
