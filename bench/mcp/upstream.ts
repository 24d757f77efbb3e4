import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { answerUsage, serveMcp } from './serve.ts';

/**
 * The upstream every MCP scenario reaches over HTTP: a plain SDK server with a read tool returning 1 KiB and a write
 * tool storing a note. The plain-server scenario calls it directly, the bare proxy forwards to it, and Countersign's
 * bench connector executes against it, so each pays the same hop to the same server.
 */
const PAYLOAD = 'x'.repeat(1024);
const notes = new Map<string, string>();

function plainServer(): Server {
  const server = new Server({ name: 'upstream', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: 'bench_read', description: 'returns 1 KiB', inputSchema: { type: 'object', properties: { key: { type: 'string' } } } },
      { name: 'bench_write', description: 'stores a note', inputSchema: { type: 'object', properties: { key: { type: 'string' }, text: { type: 'string' } } } },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const key = String(request.params.arguments?.key ?? '');
    if (request.params.name === 'bench_write') {
      notes.set(key, String(request.params.arguments?.text ?? ''));
      return { content: [{ type: 'text', text: `Wrote note "${key}"` }], structuredContent: { key, written: true } };
    }
    return { content: [{ type: 'text', text: PAYLOAD }], structuredContent: { key, found: true, payload: PAYLOAD } };
  });
  return server;
}

const served = await serveMcp(plainServer);
answerUsage();
process.send?.({ op: 'ready', url: served.url });
