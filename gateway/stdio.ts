import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { UpstreamLost, createUpstream, type Upstream } from './stdio-upstream.ts';

/**
 * `countersign stdio`: an MCP server on stdin/stdout for clients that only launch commands (Claude Desktop). It holds
 * no authority of its own: every list and call goes to a running Countersign over Streamable HTTP with the agent's
 * token, and progress notifications of held calls come back through. Nothing but MCP is written to stdout. When the
 * server restarts, the bridge opens a new session by itself (gateway/stdio-upstream.ts), so the app keeps working.
 */

export interface StdioBridgeOptions {
  /** The running server's origin, e.g. http://127.0.0.1:8787 (COUNTERSIGN_URL). */
  url: string;
  /** The agent token (COUNTERSIGN_TOKEN). */
  token: string;
  /** Streams to serve on (default: this process's stdin and stdout). */
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  /** How long a forwarded call may take without progress, in ms (default 120000). */
  callTimeoutMs?: number;
  /** How often a connection with calls in flight is checked for a server restart, in ms (default 3000). */
  pingMs?: number;
  /** How long to wait for a restarting server before a call fails, in ms (default 15000). */
  reconnectMs?: number;
}

/** Connects upstream first (so a wrong URL or token fails at once, on stderr), then serves stdio until stdin ends. */
export async function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  if (!options.token) {
    throw new Error('COUNTERSIGN_TOKEN is not set: create an agent with `agent add NAME --owner EMAIL` (countersign --help) and pass its token');
  }
  let base: URL;
  try {
    base = new URL('/mcp', options.url);
  } catch {
    throw new Error(`COUNTERSIGN_URL "${options.url}" is not a URL; use the server's origin, e.g. http://127.0.0.1:8787`);
  }
  let server: Server | undefined;
  const upstream = createUpstream({
    url: base,
    token: options.token,
    pingMs: options.pingMs,
    reconnectMs: options.reconnectMs,
    // The server's list changed (a downstream MCP server came, went or was quarantined): the client lists again.
    onToolListChanged: () => void server?.sendToolListChanged().catch(() => {}),
  });
  const first = await upstream.client();

  server = new Server(
    { name: 'countersign', title: 'Countersign (stdio bridge)', version: '0.1.0' },
    { capabilities: { tools: { listChanged: true } }, instructions: first.getInstructions() },
  );
  // Sessions opened after a server restart are initialized as the client initialized the bridge.
  server.oninitialized = () => upstream.adopt(server.getClientVersion(), server.getClientCapabilities());
  /** Tools whose calls may be sent twice without harm (reads), from the last tools/list. */
  const repeatable = new Set<string>();
  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const listed = await upstream.run((c) => c.listTools(request.params), true);
    repeatable.clear();
    for (const t of listed.tools) if (t.annotations?.readOnlyHint && t.annotations.idempotentHint) repeatable.add(t.name);
    return listed;
  });
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const token = request.params._meta?.progressToken;
    const { task: _task, ...params } = request.params;
    const started = new Date();
    const call = (c: Client) =>
      c.callTool(params, undefined, {
        signal: extra.signal,
        timeout: options.callTimeoutMs ?? 120_000,
        resetTimeoutOnProgress: true,
        onprogress:
          token === undefined
            ? undefined
            : (p) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => {}),
      });
    try {
      return await upstream.run(call, repeatable.has(params.name));
    } catch (error) {
      if (!(error instanceof UpstreamLost)) throw error;
      return lostCall(upstream, params.name, started, error);
    }
  });

  const stdio = new StdioServerTransport(options.stdin, options.stdout);
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
    (options.stdin ?? process.stdin).on('end', () => resolve());
  });
  await server.connect(stdio);
  await closed;
  await server.close().catch(() => {});
  await upstream.close();
}

/**
 * A call that was in flight when the server went away is not repeated, since it may have reached the kernel. The agent
 * is told so, with this agent's requests for that tool since the call began, so it can wait on the one it made.
 */
async function lostCall(upstream: Upstream, tool: string, since: Date, lost: UpstreamLost): Promise<CallToolResult> {
  type Listed = { id: string; tool: string; state: string; summary: string; created_at: string };
  let requests: Listed[] | null = null;
  try {
    const listed = await upstream.run((c) => c.callTool({ name: 'countersign_requests', arguments: { limit: 20 } }), true);
    const all = (listed.structuredContent as { requests?: Listed[] } | undefined)?.requests ?? [];
    requests = all.filter((r) => r.tool === tool && Date.parse(r.created_at) >= since.getTime() - 2_000);
  } catch (error) {
    // Still unreachable: say so, and how to look later.
    process.stderr.write(`countersign stdio: cannot list this agent's requests after the connection dropped: ${(error as Error).message}\n`);
  }
  const found = requests?.length
    ? ` Requests for ${tool} made since the call began: ${requests.map((r) => `${r.id} (${r.state}: ${r.summary})`).join('; ')}. ` +
      `Wait for yours with countersign_await {"id": "${requests[0]!.id}"} instead of calling ${tool} again.`
    : requests
      ? ` No request for ${tool} was recorded since the call began, so it did not reach Countersign: call it again if it is still needed.`
      : ` Countersign is not reachable right now; once it is, call countersign_requests to see whether the call was recorded before calling ${tool} again.`;
  const message = `${lost.message}, so it was not sent again: it may already have been submitted.${found}`;
  return {
    isError: true,
    content: [{ type: 'text', text: message }, { type: 'text', text: JSON.stringify({ status: 'error', code: 'connection_lost', message, requests }) }],
    structuredContent: { status: 'error', code: 'connection_lost', message, requests },
  };
}
