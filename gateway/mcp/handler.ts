import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { failureThrottle } from '../../net/throttle.ts';
import { clientAddress } from '../../net/proxy.ts';
import type { Port, Principal } from '../../kernel/index.ts';
import { bearerAuthenticator, type BuiltinTokens, type OAuthOptions } from './auth.ts';
import { defaultAllowed, isJsonRpcMessage, originGuard, rateLimiter, readJsonBody, requestIds, rpcError, whenSent } from './guard.ts';
import { createSessionServer, type SessionServer } from './server.ts';
import { SessionTransport } from './transport.ts';
import type { Executions } from './executions.ts';

export interface McpHandlerOptions {
  /** The gateway's router port: it holds CAPABILITIES.gateway (agent authentication, tools.list, its requests). */
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
  /** The built-in authorization server's tokens (gateway/oauth/): opaque, looked up on every call. */
  builtin?: BuiltinTokens;
  /** Told about refusals worth auditing (throttled token guessing); must not throw. */
  report?: (what: string, detail: string) => void;
  /** Sessions unused this long are closed (default 30 minutes). */
  sessionIdleMs?: number;
  /** How often the tool list is compared while sessions are open, to send `notifications/tools/list_changed` (default 2000 ms). */
  toolsWatchMs?: number;
  version?: string;
  /** Where connector hosts' progress reports arrive (the `gateway` endpoint's handler): held and running calls follow it. */
  executions?: Executions;
}

export type McpHandler = ((c: Context) => Promise<Response>) & {
  /** The same as calling the handler. */
  handle(c: Context): Promise<Response>;
  /** Serves a plain web Request (the Hono handler calls this with `c.req.raw`, the client's address and Node's response). */
  fetch(req: Request, address?: string, node?: NodeResponse): Promise<Response>;
  /** Closes every open session. */
  close(): Promise<void>;
  sessionCount(): number;
  /** Answers every held call at once with its request's pending state (the server is stopping). */
  stopHolding(): void;
  /** Tool calls still running (a held call answers soon after stopHolding; an execution runs to its end). */
  callsRunning(): number;
};

interface Session {
  agentId: string;
  transport: SessionTransport;
  mcp: SessionServer;
  lastUsed: number;
  /** The protocol version negotiated at initialize: it decides whether JSON-RPC batches exist. */
  protocolVersion: string;
  /** Ids of this session's requests still being answered (JSON text, so 5 and "5" differ, as in JSON-RPC). */
  running: Set<string>;
}

/**
 * The Node response under a request served by @hono/node-server (`c.env.outgoing`). Its presence also says the body
 * is Node's HTTP parser's, which delivers no more than the declared Content-Length.
 */
export interface NodeResponse {
  once(event: 'close', listener: () => void): unknown;
  readonly closed: boolean;
}

function nodeResponse(c: Context): NodeResponse | undefined {
  const env = c.env as { incoming?: unknown; outgoing?: NodeResponse } | undefined;
  return env?.incoming && env.outgoing && typeof env.outgoing.once === 'function' ? env.outgoing : undefined;
}

/** MCP 2025-06-18 removed JSON-RPC batching; later versions keep it out. */
const BATCHES_REMOVED = '2025-06-18';

/**
 * The `/mcp` endpoint: MCP Streamable HTTP (protocol 2025-11-25, official SDK, web-standard transport) behind Host and
 * Origin validation, bearer authentication on every request, a per-agent rate limit and a body limit. Each session
 * is bound to the agent that opened it; its id used with another agent's token is refused as unknown.
 *
 * @example
 * app.all('/mcp', createMcpHandler({ port: router.register('gateway', async () => null, CAPABILITIES.gateway), publicUrl: 'http://localhost:8787' }));
 */
export function createMcpHandler(options: McpHandlerOptions): McpHandler {
  const stopping = new AbortController();
  const calls = { stop: stopping.signal, running: 0 };
  const holdSeconds = options.holdSeconds ?? 25;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const defaults = defaultAllowed(options.publicUrl, options.listenPort);
  const checkOrigin = originGuard(options.allowedHosts ?? defaults.allowedHosts, options.allowedOrigins ?? defaults.allowedOrigins);
  const authenticate = bearerAuthenticator(options.port, options.publicUrl, options.oauth, options.builtin);
  const limit = rateLimiter(options.rateLimitPerMinute ?? 600);
  // Token guessing: 30 failed bearer tokens per minute per client address, then 429 before any token is checked.
  const guesses = failureThrottle({ max: 30, windowSeconds: 60 });
  const idleMs = options.sessionIdleMs ?? 30 * 60 * 1000;
  const sessions = new Map<string, Session>();

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [id, s] of sessions) if (s.lastUsed < cutoff) void closeSession(id);
  }, Math.min(idleMs, 60_000));
  sweeper.unref();

  // Downstream MCP servers come and go, change definitions (quarantine) or are trusted again: connected agents are
  // told the list changed (MCP `notifications/tools/list_changed`), so they list again instead of calling stale tools.
  // Only while sessions are open; a change while nobody listens is simply what the next session lists.
  let listed: string | null = null;
  let watching = false;
  const lookAtTools = async () => JSON.stringify(await options.port.send('kernel', { op: 'tools.list' }));
  const watcher = setInterval(() => {
    if (sessions.size === 0 || watching) return;
    watching = true;
    void lookAtTools()
      .then((now) => {
        if (listed !== null && now !== listed) for (const s of sessions.values()) void s.mcp.server.sendToolListChanged().catch(() => {});
        listed = now;
      })
      .catch(() => {})
      .finally(() => (watching = false));
  }, options.toolsWatchMs ?? 2000);
  watcher.unref();

  async function closeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.mcp.close().catch(() => {});
  }

  async function open(principal: Principal, requested: unknown): Promise<Session> {
    // The list as the first session sees it: a change from here on is announced.
    if (listed === null) listed = await lookAtTools().catch(() => null);
    const mcp = createSessionServer({ port: options.port, agentId: principal.agentId, holdSeconds, version: options.version ?? '0.1.0', executions: options.executions, calls });
    const protocolVersion = typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
    const session: Session = { agentId: principal.agentId, mcp, lastUsed: Date.now(), protocolVersion, running: new Set(), transport: undefined as never };
    session.transport = new SessionTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, session),
      onsessionclosed: (id) => void closeSession(id),
      maxRequestBodySize: maxBodyBytes,
    });
    await mcp.server.connect(session.transport);
    return session;
  }

  async function fetch(req: Request, address = 'unknown', node?: NodeResponse): Promise<Response> {
    const refused = checkOrigin(req);
    if (refused) return refused;
    const wait = guesses.blocked(address);
    if (wait > 0) {
      options.report?.('throttled', `agent tokens from ${address}`);
      return rpcError(429, -32000, `Too Many Requests: too many invalid tokens from your address; retry after ${wait}s with a valid agent token`, { 'retry-after': String(wait) });
    }
    const auth = await authenticate(req);
    if (!auth.ok) {
      guesses.failed(address);
      return auth.response;
    }
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

    const body = await readJsonBody(req, maxBodyBytes, node !== undefined);
    if (!body.ok) return body.response;
    const messages = Array.isArray(body.value) ? body.value : [body.value];
    const invalid = messages.findIndex((m) => !isJsonRpcMessage(m));
    if (messages.length === 0 || invalid >= 0) {
      return rpcError(400, -32600, 'Invalid Request: the body must be a JSON-RPC 2.0 message ({"jsonrpc": "2.0", "method": ..., "id": ...})');
    }
    if (Array.isArray(body.value)) {
      // Batches exist only before 2025-06-18, and never around initialize.
      const version = req.headers.get('mcp-protocol-version') ?? session?.protocolVersion ?? LATEST_PROTOCOL_VERSION;
      if (!session || version >= BATCHES_REMOVED) {
        const why = session ? `MCP protocol ${version} has no JSON-RPC batches (removed in ${BATCHES_REMOVED})` : 'initialize cannot be sent in a batch';
        return rpcError(400, -32600, `Invalid Request: ${why}; send one JSON-RPC message per POST`);
      }
    }
    if (!session) {
      const initialize = messages.find(isInitializeRequest);
      if (!initialize) {
        return rpcError(400, -32000, 'Bad Request: no Mcp-Session-Id header; send "initialize" first to open a session');
      }
      session = await open(principal, initialize.params.protocolVersion);
    }
    session.lastUsed = Date.now();
    // The transport keys answer streams by request id: a second request reusing a running one's id took over its
    // stream, and the first was never answered, its connection held open (found by the long fuzz). Refuse it instead.
    const ids = requestIds(messages);
    const running = session.running;
    const reused = ids.find((id, i) => running.has(id) || ids.indexOf(id) !== i);
    if (reused !== undefined) {
      return rpcError(400, -32600, `Invalid Request: id ${reused.slice(0, 100)} is already used by a request still running in this session; give every request its own id`);
    }
    for (const id of ids) running.add(id);
    // A call that can receive nothing but its answer is answered as one JSON body (no event stream), when it can be.
    const direct = Array.isArray(body.value) ? null : session.transport.answerDirectly(req, body.value, authInfo);
    const release = () => {
      ids.forEach((id) => running.delete(id));
      direct?.forget();
    };
    let response: Response;
    try {
      response = await (direct?.response ?? session.transport.handleRequest(req, { authInfo, parsedBody: body.value }));
    } catch (error) {
      release();
      throw error;
    }
    // An initialize the transport refused never got a session id: drop its server.
    if (!session.transport.sessionId) await session.mcp.close().catch(() => {});
    // Under Node the ids are released when its response has been sent or abandoned (the connection closed), which
    // needs no second stream around the transport's; a plain web Request gets its body wrapped to learn the same.
    if (!node) return whenSent(response, release);
    if (node.closed) release();
    else node.once('close', release);
    return response;
  }

  const handler = ((c: Context) => fetch(c.req.raw, clientAddress(c), nodeResponse(c))) as McpHandler;
  handler.fetch = fetch;
  handler.handle = handler;
  handler.close = async () => {
    clearInterval(sweeper);
    clearInterval(watcher);
    await Promise.all([...sessions.keys()].map(closeSession));
  };
  handler.sessionCount = () => sessions.size;
  handler.stopHolding = () => stopping.abort();
  handler.callsRunning = () => calls.running;
  return handler;
}
