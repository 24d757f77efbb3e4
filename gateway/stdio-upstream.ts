import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type ClientCapabilities, type Implementation } from '@modelcontextprotocol/sdk/types.js';

/**
 * The stdio bridge's connection to a running Countersign: an MCP SDK client over Streamable HTTP that survives a server
 * restart. A restarted server has forgotten the session, so the next request gets 404 "Session not found"; the
 * upstream then initializes again with the identity and capabilities the bridge's own client declared, and repeats
 * the request, because a 404, a 503 from a server shutting down (gateway/edge.ts drainHttp) or a refused connection
 * means the server never ran it.
 *
 * A request that was already delivered when the server went away (a call held for approval, say) is different: it may
 * have reached the kernel, and repeating it would submit it twice. Only calls the caller marks repeatable (reads) are
 * sent again; for the rest `run` throws `UpstreamLost`, and the bridge tells the agent how to find what it submitted.
 * While such a call is in flight a ping every few seconds notices a restart, since an SSE response stream that the
 * server closed on its way down ends without a word to the waiting request.
 */

export class UpstreamLost extends Error {
  constructor(readonly url: string) {
    super(`the connection to Countersign at ${url} dropped while the call was in flight (the server stopped or restarted)`);
    this.name = 'UpstreamLost';
  }
}

export interface UpstreamOptions {
  url: URL;
  token: string;
  /** How often a connection with calls in flight is checked, in ms (default 3000). */
  pingMs?: number;
  /** How long to keep trying to connect while nothing listens (a restart), in ms (default 15000). */
  reconnectMs?: number;
  /** Called when the server says its tool list changed (`notifications/tools/list_changed`). */
  onToolListChanged?: () => void;
}

export interface Upstream {
  /** The current client, connecting (or reconnecting) first when needed. */
  client(): Promise<Client>;
  /** Later sessions initialize as the bridge's client did (its name, version and capabilities). */
  adopt(info: Implementation | undefined, capabilities: ClientCapabilities | undefined): void;
  /** Runs a request, reconnecting and repeating it once when that cannot run it twice. */
  run<T>(request: (client: Client) => Promise<T>, repeatable: boolean): Promise<T>;
  close(): Promise<void>;
}

/** The server never ran the request: its session was unknown (404), it was shutting down (503), or nothing listened. */
function notDelivered(error: unknown): boolean {
  if (error instanceof StreamableHTTPError) return error.code === 404 || error.code === 503;
  const cause = (error as { cause?: { code?: string } } | null)?.cause;
  return error instanceof TypeError && cause?.code === 'ECONNREFUSED';
}

/** The request may have been delivered, but its answer can no longer arrive. */
function lostInFlight(error: unknown): boolean {
  if (error instanceof McpError) return error.code === ErrorCode.ConnectionClosed;
  return error instanceof TypeError || (error instanceof Error && /terminated|socket|ECONNRESET|disconnected/i.test(error.message));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createUpstream(options: UpstreamOptions): Upstream {
  let info: Implementation = { name: 'countersign-stdio-bridge', version: '0.1.0' };
  let capabilities: ClientCapabilities = {};
  let current: Promise<Client> | null = null;
  let closed = false;

  async function open(): Promise<Client> {
    const client = new Client(info, { capabilities });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => options.onToolListChanged?.());
    const transport = new StreamableHTTPClientTransport(options.url, { requestInit: { headers: { authorization: `Bearer ${options.token}` } } });
    try {
      await client.connect(transport);
    } catch (error) {
      await client.close().catch(() => {});
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot reach Countersign at ${options.url.href} (${reason}); is the server running, and is COUNTERSIGN_TOKEN valid?`, { cause: error });
    }
    return client;
  }

  function client(): Promise<Client> {
    if (closed) return Promise.reject(new Error('the stdio bridge is closing'));
    current ??= open().catch((error: unknown) => {
      current = null;
      throw error;
    });
    return current;
  }

  /** Drops `stale` (its pending requests fail with ConnectionClosed) and connects again, retrying while the server restarts. */
  async function renew(stale: Client, waitMs: number): Promise<Client> {
    await drop(stale);
    return connect(waitMs);
  }

  /** Forgets a client whose session is gone, so the next request opens a new one. */
  async function drop(stale: Client): Promise<void> {
    if (current && (await current.catch(() => null)) === stale) current = null;
    await stale.close().catch(() => {});
  }

  /** The current client; while nothing listens (a restart in progress) keeps trying for up to `waitMs`. */
  async function connect(waitMs: number): Promise<Client> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        return await client();
      } catch (error) {
        // A refused token will not improve by waiting; anything else may be a server on its way down or up.
        const cause = (error as Error).cause;
        const refused = cause instanceof StreamableHTTPError && (cause.code === 401 || cause.code === 403);
        if (Date.now() >= deadline || refused) throw error;
        process.stderr.write(`countersign stdio: ${(error as Error).message}; retrying\n`);
        await sleep(500);
      }
    }
  }

  /** Pings while a delivered request waits; a ping that finds the session gone drops the client, which fails the wait. */
  function watch(c: Client): () => void {
    const timer = setInterval(() => {
      c.ping({ timeout: 5_000 }).catch((error: unknown) => {
        if (notDelivered(error)) void drop(c);
      });
    }, options.pingMs ?? 3_000);
    timer.unref();
    return () => clearInterval(timer);
  }

  return {
    client,
    adopt(clientInfo, clientCapabilities) {
      if (clientInfo) info = clientInfo;
      // The bridge forwards no task methods, so it does not claim the tasks capability for its client.
      const { tasks: _tasks, ...rest } = clientCapabilities ?? {};
      capabilities = rest;
      // The first session only proved the URL and token; the next one is opened in the client's name. End it politely.
      const probe = current;
      current = null;
      void probe?.then(async (c) => {
        await (c.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => {});
        await c.close();
      }).catch(() => {});
    },
    async run(request, repeatable) {
      const attempt = async (c: Client) => {
        const stop = watch(c);
        try {
          return await request(c);
        } finally {
          stop();
        }
      };
      const c = await connect(options.reconnectMs ?? 15_000);
      try {
        return await attempt(c);
      } catch (error) {
        if (closed) throw error;
        const safe = notDelivered(error) || (repeatable && lostInFlight(error));
        if (safe) return attempt(await renew(c, options.reconnectMs ?? 15_000));
        if (lostInFlight(error)) {
          void renew(c, 0).catch(() => {});
          throw new UpstreamLost(options.url.href);
        }
        throw error;
      }
    },
    async close() {
      closed = true;
      const c = await current?.catch(() => null);
      await c?.close().catch(() => {});
    },
  };
}
