import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolRequest, type CallToolResult, type ServerNotification, type ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { CreateTaskResult } from '@modelcontextprotocol/sdk/experimental/tasks/types.js';
import type { Port, RequestView, ToolInfo } from '../../kernel/index.ts';
import { asArgs, awaitTool, callTool, guarded, progressSender } from './calls.ts';
import { CancellableTaskStore, startToolTask } from './tasks.ts';
import type { Executions } from './executions.ts';
import { AWAIT_TOOL, REQUESTS_TOOL, listedTool, ownTools, requestsResult } from './tools.ts';

/**
 * One SDK `Server` per MCP session, bound to the agent that opened it. Every handler acts for that agent only; the
 * HTTP layer has already checked that each request on the session carries that agent's valid token.
 */

export interface SessionServerOptions {
  port: Port;
  agentId: string;
  holdSeconds: number;
  version: string;
  /** Upstream progress of running executions (the gateway endpoint's handler feeds it). */
  executions?: Executions;
  /** The handler's tool calls: aborted when the server stops (held calls answer at once), and how many are running. */
  calls?: { stop: AbortSignal; running: number };
}

export interface SessionServer {
  server: Server;
  close(): Promise<void>;
}

/**
 * The SDK builds a fresh Ajv (milliseconds of CPU and ~100 KB) for every Server it constructs, i.e. every session, and
 * uses it only to check elicitation replies. One instance serves all sessions: it caches compiled schemas, keeps no
 * per-session state.
 */
let validator: AjvJsonSchemaValidator | undefined;

export function createSessionServer(options: SessionServerOptions): SessionServer {
  const { port, agentId, holdSeconds } = options;
  const taskStore = new CancellableTaskStore();
  const server = new Server(
    { name: 'countersign', title: 'Countersign', version: options.version },
    {
      capabilities: {
        tools: { listChanged: true },
        tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      },
      taskStore,
      jsonSchemaValidator: (validator ??= new AjvJsonSchemaValidator()),
      instructions:
        'Countersign is an authority gateway: some tool calls run at once, some are denied by policy, and some wait for a ' +
        `human to approve with a passkey. A call that needs approval is held up to ${holdSeconds}s; if it returns status ` +
        `"pending", call ${AWAIT_TOOL} with its approval_id to wait for the result. Denials and rejections say why.`,
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const tools = (await port.send('kernel', { op: 'tools.list' })) as unknown as ToolInfo[];
    return { tools: [...tools.map(listedTool), ...ownTools(holdSeconds)] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult | CreateTaskResult> => {
    const calls = options.calls;
    if (calls) calls.running++;
    try {
      return await answer(request, extra);
    } finally {
      if (calls) calls.running--;
    }
  });

  const answer = async (request: CallToolRequest, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): Promise<CallToolResult | CreateTaskResult> => {
    const { name } = request.params;
    const args = asArgs(request.params.arguments);
    const hold = {
      port,
      agentId,
      holdSeconds,
      signal: extra.signal,
      sessionClosed: () => server.transport === undefined,
      executions: options.executions,
      progress: progressSender(request.params._meta?.progressToken, (n) => extra.sendNotification(n)),
      stop: options.calls?.stop,
    };
    if (name === AWAIT_TOOL) return awaitTool(hold, args);
    if (name === REQUESTS_TOOL) {
      const limit = typeof args.limit === 'number' && Number.isInteger(args.limit) ? Math.min(Math.max(args.limit, 1), 100) : 20;
      return guarded(async () => requestsResult((await port.send('kernel', { op: 'request.list', agentId, limit })) as unknown as RequestView[]));
    }
    if (request.params.task && extra.taskStore) {
      return startToolTask({ port, agentId, store: taskStore, requestStore: extra.taskStore, requestedTtl: extra.taskRequestedTtl }, name, args);
    }
    return callTool(hold, name, args);
  };

  return {
    server,
    async close() {
      taskStore.cleanup();
      await server.close();
    },
  };
}
