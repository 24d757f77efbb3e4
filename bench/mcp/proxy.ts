import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { answerUsage, connect, serveMcp } from './serve.ts';

/**
 * The bare proxy: no policy, no audit, one SDK server per session forwarding list and call to the upstream through
 * one shared upstream client, exactly as Countersign's bench connector does, with the same fetch (`connect`).
 */
const upstreamUrl = process.argv[2]!;
const upstream = await connect(upstreamUrl);

const served = await serveMcp(() => {
  const server = new Server({ name: 'proxy', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async (r) => upstream.listTools(r.params));
  server.setRequestHandler(CallToolRequestSchema, async (r) => upstream.callTool(r.params) as Promise<CallToolResult>);
  return server;
});
answerUsage();
process.send?.({ op: 'ready', url: served.url });
