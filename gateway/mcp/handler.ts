import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { JSONRPCMessageSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Port, Principal } from '../../kernel/index.ts';
import { bearerAuthenticator, type OAuthOptions } from './auth.ts';
import { defaultAllowed, originGuard, rateLimiter, readJsonBody, rpcError } from './guard.ts';
import { createSessionServer, type SessionServer } from './server.ts';

export interface McpHandlerOptions {
  /** The gateway's router port: capabilities `kernel:agent.authenticate`, `kernel:tools.list`, `kernel:request.*`. */
  port: Port;
  /** How long a call that needs approval is held before it returns `pending` (default 25). */
  holdSeconds?: number;
  /** The origin agents and humans reach this server at; links and `WWW-Authenticate` use it. */
  publicUrl: string;
  /** The address and port the HTTP server listens on: loopback names on that port are accepted too. */
  host?: string;
  listenPort?: number;
  /** Host header values accepted (DNS rebinding protection). Default: the public URL's host and loopback. */
  allowedHosts?: string[];
  /** Origin header values accepted when an Origin is sent. Default: the public URL's origin and loopback. */
  allowedOrigins?: string[];
  /** Largest POST body accepted, in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** Requests per minute per agent (default 600); more get 429 with Retry-After. */
  rateLimitPerMinute?: number;
  oauth?: OAuthOptions;
  /** Sessions unused this long are closed (default 30 minutes). */
  sessionIdleMs?: number;
  version?: string;
}

export type McpHandler = ((c: Context) => Promise<Response>) & {
  /** The same as calling the handler. */
  handle(c: Context): Promise<Response>;
  /** Serves a plain web Request (the Hono handler calls this with `c.req.raw`). */
  fetch(req: Request): Promise<Response>;
  /** Closes every open session. */
  close(): Promise<void>;
  sessionCount(): number;
};

interface Session {
  agentId: string;
  transport: WebStandardStreamableHTTPServerTransport;
  mcp: SessionServer;
  lastUsed: number;
}

/**
 * The `/mcp` endpoint: MCP Streamable HTTP (protocol 2025-11-25, official SDK, web-standard transport) behind Host and
 * Origin validation, bearer authentication on every request, a per-agent rate limit and a body limit. Each session
 * is bound to the agent that opened it; its id used with another agent's token is refused as unknown.
 *
 * @example
 * app.all('/mcp', createMcpHandler({ port: router.register('gateway', ...), publicUrl: 'http://localhost:8787' }));
 */
export function createMcpHandler(options: McpHandlerOptions): McpHandler {
  const holdSeconds = options.holdSeconds ?? 25;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const defaults = defaultAllowed(options.publicUrl, options.listenPort);
  const checkOrigin = originGuard(options.allowedHosts ?? defaults.allowedHosts, options.allowedOrigins ?? defaults.allowedOrigins);
  const authenticate = bearerAuthenticator(options.port, options.publicUrl, options.oauth);
  const limit = rateLimiter(options.rateLimitPerMinute ?? 600);
  const idleMs = options.sessionIdleMs ?? 30 * 60 * 1000;
  const sessions = new Map<string, Session>();

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [id, s] of sessions) if (s.lastUsed < cutoff) void closeSession(id);
  }, Math.min(idleMs, 60_000));
  sweeper.unref();

  async function closeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.mcp.close().catch(() => {});
  }

  async function open(principal: Principal): Promise<Session> {
    const mcp = createSessionServer({ port: options.port, agentId: principal.agentId, holdSeconds, version: options.version ?? '0.1.0' });
    const session: Session = { agentId: principal.agentId, mcp, lastUsed: Date.now(), transport: undefined as never };
    session.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, session),
      onsessionclosed: (id) => void closeSession(id),
      maxRequestBodySize: maxBodyBytes,
    });
    await mcp.server.connect(session.transport);
    return session;
  }

  async function fetch(req: Request): Promise<Response> {
    const refused = checkOrigin(req);
    if (refused) return refused;
    const auth = await authenticate(req);
    if (!auth.ok) return auth.response;
    const { principal } = auth;

    const allowed = limit(principal.agentId);
    if (!allowed.ok) {
      return rpcError(429, -32000, `Too Many Requests: agent "${principal.agentName}" exceeded its rate limit; retry after ${allowed.retryAfterSeconds}s`, {
        'retry-after': String(allowed.retryAfterSeconds),
      });
    }

    const sessionId = req.headers.get('mcp-session-id');
    let session = sessionId ? sessions.get(sessionId) : undefined;
    // A session of another agent reads exactly like a missing one: refusals reveal nothing.
    if (sessionId && (!session || session.agentId !== principal.agentId)) {
      return rpcError(404, -32001, 'Session not found: initialize a new MCP session');
    }
    if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
      return rpcError(405, -32000, `Method Not Allowed: /mcp accepts POST, GET and DELETE, not ${req.method}`, { allow: 'GET, POST, DELETE' });
    }

    const authInfo = { token: 'redacted', clientId: principal.agentName, scopes: [], extra: { agentId: principal.agentId } };
    if (req.method !== 'POST') {
      if (!session) return rpcError(400, -32000, 'Bad Request: send the Mcp-Session-Id header of an initialized session');
      session.lastUsed = Date.now();
      return session.transport.handleRequest(req, { authInfo });
    }

    const body = await readJsonBody(req, maxBodyBytes);
    if (!body.ok) return body.response;
    const messages = Array.isArray(body.value) ? body.value : [body.value];
    const invalid = messages.findIndex((m) => !JSONRPCMessageSchema.safeParse(m).success);
    if (messages.length === 0 || invalid >= 0) {
      return rpcError(400, -32600, 'Invalid Request: the body must be a JSON-RPC 2.0 message ({"jsonrpc": "2.0", "method": ..., "id": ...})');
    }
    if (!session) {
      const initializing = messages.some(isInitializeRequest);
      if (!initializing) {
        return rpcError(400, -32000, 'Bad Request: no Mcp-Session-Id header; send "initialize" first to open a session');
      }
      session = await open(principal);
    }
    session.lastUsed = Date.now();
    const response = await session.transport.handleRequest(req, { authInfo, parsedBody: body.value });
    // An initialize the transport refused never got a session id: drop its server.
    if (!session.transport.sessionId) await session.mcp.close().catch(() => {});
    return response;
  }

  const handler = ((c: Context) => fetch(c.req.raw)) as McpHandler;
  handler.fetch = fetch;
  handler.handle = handler;
  handler.close = async () => {
    clearInterval(sweeper);
    await Promise.all([...sessions.keys()].map(closeSession));
  };
  handler.sessionCount = () => sessions.size;
  return handler;
}
