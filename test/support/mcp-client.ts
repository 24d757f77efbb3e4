import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** A real MCP SDK client over Streamable HTTP to `<url>/mcp` with a bearer token; declares the tasks capability. */
export async function connectClient(url: string, token: string, options: { tasks?: boolean } = {}): Promise<Client> {
  const client = new Client(
    { name: 'countersign-test-client', version: '1.0.0' },
    { capabilities: options.tasks ? { tasks: { requests: {}, list: {}, cancel: {} } } : {} },
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${url.replace(/\/$/, '')}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

/** A raw JSON-RPC POST to `/mcp`, for the inputs no well-behaved client sends. */
export async function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url.replace(/\/$/, '')}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
