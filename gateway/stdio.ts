import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

/**
 * `countersign stdio`: an MCP server on stdin/stdout for clients that only launch commands (Claude Desktop). It holds
 * no authority of its own: every list and call goes to a running Countersign over Streamable HTTP with the agent's
 * token, and progress notifications of held calls come back through. Nothing but MCP is written to stdout.
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
}

/** Connects upstream first (so a wrong URL or token fails at once, on stderr), then serves stdio until stdin ends. */
export async function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  if (!options.token) {
    throw new Error('COUNTERSIGN_TOKEN is not set: create an agent with `countersign agent add NAME --owner EMAIL` and pass its token');
  }
  let base: URL;
  try {
    base = new URL('/mcp', options.url);
  } catch {
    throw new Error(`COUNTERSIGN_URL "${options.url}" is not a URL; use the server's origin, e.g. http://127.0.0.1:8787`);
  }
  const upstream = new Client({ name: 'countersign-stdio-bridge', version: '0.1.0' });
  const transport = new StreamableHTTPClientTransport(base, { requestInit: { headers: { authorization: `Bearer ${options.token}` } } });
  try {
    await upstream.connect(transport);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot reach Countersign at ${base.href} (${reason}); is \`countersign start\` running, and is COUNTERSIGN_TOKEN valid?`);
  }

  const server = new Server(
    { name: 'countersign', title: 'Countersign (stdio bridge)', version: '0.1.0' },
    { capabilities: { tools: {} }, instructions: upstream.getInstructions() },
  );
  server.setRequestHandler(ListToolsRequestSchema, async (request) => upstream.listTools(request.params));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const token = request.params._meta?.progressToken;
    const { task: _task, ...params } = request.params;
    return upstream.callTool(params, undefined, {
      signal: extra.signal,
      timeout: options.callTimeoutMs ?? 120_000,
      resetTimeoutOnProgress: true,
      onprogress:
        token === undefined
          ? undefined
          : (p) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => {}),
    });
  });

  const stdio = new StdioServerTransport(options.stdin, options.stdout);
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
    (options.stdin ?? process.stdin).on('end', () => resolve());
  });
  await server.connect(stdio);
  await closed;
  await server.close().catch(() => {});
  await upstream.close().catch(() => {});
}
