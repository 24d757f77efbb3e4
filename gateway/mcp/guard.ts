import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';

/**
 * The checks an HTTP request to `/mcp` passes before any MCP message is read: Host and Origin (DNS rebinding),
 * a per-agent rate limit, and a bounded body. Each failure becomes a JSON-RPC error body with the HTTP status the
 * Streamable HTTP transport specifies, so clients see a spec error and the server keeps serving.
 */

/** A JSON-RPC error response outside any request (`id: null`), as the transport spec uses for HTTP-level refusals. */
export function rpcError(status: number, code: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * Builds the DNS-rebinding check once. A browser page on an attacker's domain that resolves to 127.0.0.1 sends its own
 * Host and Origin, so both must name this server. A missing Origin is fine: non-browser MCP clients send none.
 */
export function originGuard(allowedHosts: readonly string[], allowedOrigins: readonly string[]): (req: Request) => Response | null {
  const hosts = new Set(allowedHosts.map((h) => h.toLowerCase()));
  const origins = new Set(allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  return (req) => {
    const host = (req.headers.get('host') ?? new URL(req.url).host).toLowerCase();
    const hostname = host.replace(/:\d+$/, '');
    if (!hosts.has(host) && !hosts.has(hostname)) {
      return rpcError(403, -32000, `Forbidden: Host "${host}" is not one this server answers to (DNS rebinding protection); use ${[...hosts].join(', ')}`);
    }
    const origin = req.headers.get('origin');
    if (origin !== null && !origins.has(origin.toLowerCase())) {
      return rpcError(403, -32000, `Forbidden: Origin "${origin}" may not call this MCP server (DNS rebinding protection)`);
    }
    return null;
  };
}

/** Hosts and origins to accept by default: the public URL's, plus loopback on the same port for local clients. */
export function defaultAllowed(publicUrl: string, listenPort?: number): { allowedHosts: string[]; allowedOrigins: string[] } {
  const url = new URL(publicUrl);
  const ports = [...new Set([url.port ? `:${url.port}` : '', listenPort ? `:${listenPort}` : ''])];
  const loopback = ['localhost', '127.0.0.1', '[::1]'].flatMap((h) => ports.map((p) => `${h}${p}`));
  const allowedHosts = [...new Set([url.host, ...loopback])];
  const allowedOrigins = [...new Set([url.origin, ...loopback.map((h) => `http://${h}`)])];
  return { allowedHosts, allowedOrigins };
}

/**
 * A token bucket per agent: `perMinute` requests, refilled continuously. Buckets of agents idle long enough to be full
 * again are forgotten, so memory stays bounded by the number of recently active agents.
 */
export function rateLimiter(perMinute: number, now: () => number = Date.now): (agentId: string) => { ok: true } | { ok: false; retryAfterSeconds: number } {
  if (!Number.isFinite(perMinute) || perMinute <= 0) {
    throw new Error(`rateLimitPerMinute must be a positive number, got ${perMinute}`);
  }
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = now();
  return (agentId) => {
    const t = now();
    if (t - lastSweep > 60_000) {
      for (const [id, b] of buckets) if (b.tokens + (t - b.at) * perMs >= perMinute) buckets.delete(id);
      lastSweep = t;
    }
    const bucket = buckets.get(agentId) ?? { tokens: perMinute, at: t };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (t - bucket.at) * perMs);
    bucket.at = t;
    buckets.set(agentId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
  };
}

export type BodyResult = { ok: true; value: unknown } | { ok: false; response: Response };

/**
 * Reads a POST body up to `maxBytes` (checking the declared length first, then counting while streaming, so a lying
 * Content-Length cannot get more in) and parses it as JSON. `lengthEnforced`: the server under `req` delivers no more
 * than its declared Content-Length (Node's HTTP parser does), so a declared body is read whole, in one piece, without
 * a web stream over it (@hono/node-server reads it straight from the socket).
 */
export async function readJsonBody(req: Request, maxBytes: number, lengthEnforced = false): Promise<BodyResult> {
  const tooLarge = (): BodyResult => ({
    ok: false,
    response: rpcError(413, -32000, `Payload Too Large: the request body exceeds ${maxBytes} bytes; send smaller arguments`),
  });
  const header = req.headers.get('content-length');
  const declared = Number(header ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge();
  let text: string;
  if (lengthEnforced && header !== null && Number.isFinite(declared) && !req.headers.has('transfer-encoding')) {
    const bytes = await req.arrayBuffer();
    if (bytes.byteLength > maxBytes) return tooLarge();
    text = Buffer.from(bytes).toString('utf8');
  } else {
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (req.body) {
      const reader = req.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          return tooLarge();
        }
        chunks.push(value);
      }
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, response: rpcError(400, -32700, 'Parse error: the request body is not valid JSON; send one JSON-RPC 2.0 message') };
  }
}

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown) => typeof v === 'string' || Number.isSafeInteger(v);

/**
 * Whether `message` is a JSON-RPC 2.0 message as the SDK's JSONRPCMessageSchema defines it. The SDK's transport parses
 * every message with that schema again, so the common shape, a request whose params carry at most a progress token
 * in `_meta`, is recognized here by hand; anything else (notifications, responses, other `_meta`) goes to the schema.
 * The hand check accepts only what the schema accepts (test/unit/mcp.test.ts compares the two).
 */
export function isJsonRpcMessage(message: unknown): boolean {
  return isPlainRequest(message) || JSONRPCMessageSchema.safeParse(message).success;
}

function isPlainRequest(m: unknown): boolean {
  if (!isRecord(m) || m.jsonrpc !== '2.0' || typeof m.method !== 'string' || !isId(m.id)) return false;
  for (const key in m) if (!REQUEST_KEYS.has(key)) return false;
  const params = m.params;
  if (params === undefined) return true;
  if (!isRecord(params)) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  if (!isRecord(meta)) return false;
  for (const key in meta) if (key !== 'progressToken') return false;
  return isId(meta.progressToken);
}

/** The ids of the JSON-RPC requests among `messages` (notifications and responses have none), as map keys. */
export function requestIds(messages: unknown[]): string[] {
  return messages.flatMap((m) => (m && typeof m === 'object' && 'method' in m && 'id' in m ? [JSON.stringify((m as { id: unknown }).id)] : []));
}

/**
 * `response` with `done` called once its body has been sent or abandoned (at once when it has none): an MCP answer
 * over an event stream finishes long after the Response object was made.
 */
export function whenSent(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const reader = response.body.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) (finished = true), done();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: end } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
