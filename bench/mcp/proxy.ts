import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { downstreamFetch } from '../../tools/mcp/fetch.ts';
import { answerUsage, connect, serveMcp } from './serve.ts';

/**
 * The bare proxy: no policy, no audit, one SDK server per session forwarding list and call to the upstream through
 * one shared upstream client, exactly as Countersign's bench connector does, with the same fetch (the `mcp`
 * connector's), so the ratios measure governance, not HTTP clients. With Node's own fetch (undici: an abort listener
 * per request piled on the transport's one signal until GC, the body teed, every answer in web streams; see
 * tools/mcp/fetch.ts) the proxy spent 1.7-2.0 ms of CPU per read at 32 clients instead of 0.8-0.9 (bench/NOTES.md,
 * fourteenth pass).
 */
const upstreamUrl = process.argv[2]!;
const upstream = await connect(upstreamUrl, {}, downstreamFetch());

const served = await serveMcp(() => {
  const server = new Server({ name: 'proxy', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async (r) => upstream.listTools(r.params));
  server.setRequestHandler(CallToolRequestSchema, async (r) => upstream.callTool(r.params) as Promise<CallToolResult>);
  return server;
});
answerUsage();
process.send?.({ op: 'ready', url: served.url });
