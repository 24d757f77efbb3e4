import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Server as NodeHttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { defaultAllowed, rpcError } from './mcp/guard.ts';
import { DEFAULT_LIMITS, type EdgeLimits } from './limits.ts';

export { DEFAULT_LIMITS, type EdgeLimits } from './limits.ts';

/**
 * What every HTTP request meets before any route: a Host this server answers to (DNS rebinding), and a bounded body
 * (64 KiB for the web app and devices, 1 MiB for /mcp by default). The Node server under it bounds how long headers
 * and bodies may take, so a slow client cannot hold a connection open forever.
 */

const size = (bytes: number) => (bytes % 1024 === 0 ? `${bytes} bytes (${bytes / 1024} KiB)` : `${bytes} bytes`);

/** 413 for oversized bodies, per route family; the connection is closed so the rest of the upload is not read. */
export function bodyLimits(limits: Pick<EdgeLimits, 'webBodyBytes' | 'mcpBodyBytes'>): MiddlewareHandler {
  const mcp = bodyLimit({
    maxSize: limits.mcpBodyBytes,
    onError: () => {
      const response = rpcError(413, -32000, `Payload Too Large: the request body exceeds ${size(limits.mcpBodyBytes)}, the most /mcp accepts; send smaller arguments`);
      response.headers.set('connection', 'close');
      return response;
    },
  });
  const web = bodyLimit({
    maxSize: limits.webBodyBytes,
    onError: (c) =>
      c.json(
        { error: { code: 'too_large', message: `The request body is larger than ${size(limits.webBodyBytes)}, the most ${c.req.path} accepts. Send less; nothing was stored.` } },
        413,
        { connection: 'close' },
      ),
  });
  return (c, next) => {
    const limit = c.req.path === '/mcp' || c.req.path.startsWith('/mcp/') ? mcp : web;
    // A declared length is checked from the header alone, as bodyLimit itself does, but without asking for the body
    // first: that would turn @hono/node-server's request into a full web Request with a stream over the socket, which
    // the routes then read through (the MCP endpoint reads a declared body straight from Node instead).
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) return limit(c, next);
    return Number.parseInt(declared || '0', 10) > (limit === mcp ? limits.mcpBodyBytes : limits.webBodyBytes) ? limit(c, next) : next();
  };
}

/**
 * A request whose body was never read (refused before it: an unknown MCP session, a wrong method, a 404) is answered
 * with `Connection: close`. Otherwise the Node adapter drains the body after the answer and, when that takes longer
 * than half a second (a busy server), closes the connection under a client that was told keep-alive and has already
 * sent its next request on it: that request is lost ("other side closed", found by test/fuzz under load).
 */
export const closeUnreadBodies: MiddlewareHandler = async (c, next) => {
  await next();
  const req = c.req.raw;
  // bodyUsed first: a body read straight from Node (the MCP endpoint) is used, and asking for `body` would build a web
  // Request for nothing. GET and HEAD carry none.
  if (req.bodyUsed || c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.header('content-length') === '0' || req.body === null) return;
  const closing = withConnectionClose(c.res);
  if (closing !== c.res) c.res = closing;
};

/** The response with `Connection: close`: set in place, or on a copy when its headers are immutable (a proxied fetch). */
function withConnectionClose(response: Response): Response {
  try {
    response.headers.set('connection', 'close');
    return response;
  } catch {
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers: new Headers([...response.headers, ['connection', 'close']]) });
  }
}

/**
 * Refuses a Host this server does not answer to: a page on an attacker's domain that resolves to this server (DNS
 * rebinding) sends its own name. Allowed: the public URL's host, loopback on the listening port, and `extra`.
 */
export function hostGuard(publicUrl: string, listenPort: number | undefined, extra: readonly string[] = []): MiddlewareHandler {
  const hosts = new Set([...defaultAllowed(publicUrl, listenPort).allowedHosts, ...extra].map((h) => h.toLowerCase()));
  return async (c, next) => {
    const host = (c.req.header('host') ?? new URL(c.req.url).host).toLowerCase();
    if (hosts.has(host)) return next();
    const message = `Host "${host.slice(0, 100)}" is not one this server answers to (DNS rebinding protection). Open ${new URL(publicUrl).origin}, or add the name to allowedHosts in countersign.yaml.`;
    if (c.req.path === '/mcp') return rpcError(403, -32000, `Forbidden: ${message}`);
    return c.json({ error: { code: 'wrong_host', message } }, 403);
  };
}

/** Per server: whether it is draining, and how many requests are inside the app (their Response not yet made). */
const draining = new WeakMap<ServerType, { on: boolean; running: number }>();

/** Starts the Node HTTP server with header and request timeouts; checks them every second instead of every 30. */
export function serveHttp(fetch: (request: Request, env?: unknown) => Response | Promise<Response>, options: { port: number; hostname: string; limits?: Partial<EdgeLimits> }): ServerType {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const state = { on: false, running: 0 };
  const server = serve({
    fetch: async (request, env) => {
      if (state.on) return unavailable(request);
      state.running += 1;
      try {
        const response = await fetch(request, env);
        return state.on ? withConnectionClose(response) : response;
      } finally {
        state.running -= 1;
      }
    },
    port: options.port,
    hostname: options.hostname,
    serverOptions: {
      headersTimeout: limits.headersTimeoutSeconds * 1000,
      requestTimeout: limits.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: 1000,
      // Node's default, stated: a request whose headers exceed 16 KiB gets 431 before any of our code runs.
      maxHeaderSize: 16 * 1024,
    },
  });
  draining.set(server, state);
  server.on('connection', lingerOnClose);
  server.on('connect', refuseConnect);
  return server;
}

/**
 * CONNECT asks the server to act as a proxy and never reaches the app: without a listener Node drops the connection
 * without a word (found by the long fuzz). Countersign is no proxy: say so, with the status HTTP has for it.
 */
function refuseConnect(_request: unknown, socket: Socket): void {
  const body = JSON.stringify({ error: { code: 'method_not_allowed', message: 'CONNECT is not supported: Countersign is not a proxy. Send GET or POST to its routes (/mcp, /healthz, the web app at /).' } });
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, DELETE\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** What a request that arrives on a kept-alive connection of a stopping server gets: it was not run, so retry. */
function unavailable(request: Request): Response {
  const message = 'Service Unavailable: this Countersign server is shutting down and did not run the request; send it again (to the restarted server or another replica)';
  const headers = { 'retry-after': '1', connection: 'close' };
  if (new URL(request.url).pathname === '/mcp') return rpcError(503, -32000, message, headers);
  return Response.json({ error: { code: 'shutting_down', message } }, { status: 503, headers });
}

/**
 * Stops a server the way a load balancer expects, before the services behind it close: no new connections; a request
 * that still arrives on a kept-alive connection gets 503 with `Connection: close` instead of reaching a closed database
 * (a client told "500" cannot know whether its call ran); requests already inside finish for up to `graceMs`, each
 * answer closing its connection; then every connection (open streams included) is closed. With `calls` (the MCP
 * endpoint's), held tool calls are answered at once with their request's pending state and running ones may finish
 * within the same grace: an MCP answer streams after its Response was made, which `running` no longer counts.
 */
export async function drainHttp(server: ServerType, graceMs = 5000, calls?: { stopHolding(): void; running(): number }): Promise<void> {
  const state = draining.get(server);
  if (state) state.on = true;
  calls?.stopHolding();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http = server as Partial<NodeHttpServer>;
  const deadline = Date.now() + graceMs;
  while (((state?.running ?? 0) > 0 || (calls?.running() ?? 0) > 0) && Date.now() < deadline) {
    http.closeIdleConnections?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  http.closeAllConnections?.();
  await closed;
}

/** How long a closing connection keeps reading (and discarding) what the client still sends. */
const LINGER_MS = 2000;

/**
 * Lingering close, as nginx and Apache do it: when Node closes a connection after a response (a 413 with
 * `Connection: close`), closing the socket while the client's upload is still arriving makes the kernel send a reset,
 * and the client loses the answer it was about to read. Instead: send our FIN, read and drop what still arrives for at
 * most two seconds (nothing is buffered), then close.
 */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    socket.end();
    socket.resume();
  };
}
