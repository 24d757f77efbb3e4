import { randomUUID } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { downstreamFetch } from '../../tools/mcp/fetch.ts';

/** Helpers shared by the MCP bench's processes (this folder holds no bench itself: bench/run.ts reads only bench/*.ts). */

/** Serves `makeServer()` per session on a free port, as every SDK-based HTTP server does. */
export async function serveMcp(makeServer: () => Server): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const server: ServerType = serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      const id = req.headers.get('mcp-session-id');
      let transport = id ? sessions.get(id) : undefined;
      if (!transport) {
        const created = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void sessions.set(sid, created) });
        await makeServer().connect(created);
        transport = created;
      }
      return transport.handleRequest(req);
    },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); if ('closeAllConnections' in server) server.closeAllConnections(); }),
  };
}

/**
 * An SDK client to `url`, through the `mcp` connector's fetch (tools/mcp/fetch.ts): every bench process (the load
 * generator, the bare proxy, Countersign's bench connector) reaches its server with the same HTTP client, so the ratios
 * measure governance, not HTTP clients. With Node's own fetch the bare proxy spent 1.7-2.0 ms of CPU per read at 32
 * clients instead of 0.8-0.9 (bench/NOTES.md, fourteenth pass).
 */
export async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers }, fetch: downstreamFetch() }));
  return client;
}

/**
 * What a bench process reports about itself when asked: CPU time used so far and resident memory; with `gc` (the
 * bench starts its processes with --expose-gc) after a full collection, read after the CPU clock.
 */
export function answerUsage(extra: () => Promise<Record<string, unknown>> = async () => ({})): void {
  process.on('message', (m: { op?: string; gc?: boolean }) => {
    if (m?.op !== 'usage') return;
    const cpu = process.cpuUsage();
    if (m.gc) (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    void extra().then((more) => process.send?.({ op: 'usage', cpuMs: (cpu.user + cpu.system) / 1000, rss: memory.rss, heap: memory.heapUsed, external: memory.external + memory.arrayBuffers, ...more }));
  });
}
