import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { freePort, startStack } from '../test/support/harness.ts';
import { createTestConnector } from '../test/support/test-connector.ts';
import type { BenchResult } from './types.ts';

/**
 * What Countersign costs per MCP call: 32 concurrent SDK clients over Streamable HTTP call a tool returning 1 KiB,
 * against (a) a plain MCP server, (b) a bare pass-through proxy built on the same SDK in front of it, and (c)
 * Countersign with an auto-allow rule and its durable audit on PostgreSQL (BENCH_DATABASE_URL, TEST_DATABASE_URL,
 * or the local postgres://postgres@127.0.0.1:5432/postgres). Targets: (c) adds at most 0.5 ms p50 over (b) and keeps
 * at least 80% of (b)'s throughput.
 */

const CLIENTS = 32;
/** Each scenario runs for a fixed time rather than a fixed count, so a slow scenario still finishes. */
const MEASURE_MS = Number(process.env.BENCH_MCP_SECONDS ?? 5) * 1000;
const WARMUP_MS = 1000;
const log = (m: string) => process.env.BENCH_VERBOSE && process.stderr.write(`bench/mcp: ${m}\n`);
const PAYLOAD = 'x'.repeat(1024);

type Call = (client: Client) => Promise<unknown>;
interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
}

/** Serves `makeServer()` per session on a free port, as every SDK-based HTTP server does. */
async function serveMcp(makeServer: () => Server): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const port = await freePort();
  const server: ServerType = serve({
    port,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      const id = req.headers.get('mcp-session-id');
      let transport = id ? sessions.get(id) : undefined;
      if (!transport) {
        transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void sessions.set(sid, transport!) });
        await makeServer().connect(transport);
      }
      return transport.handleRequest(req);
    },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    // Clients keep SSE streams open; close them rather than wait for them.
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); if ('closeAllConnections' in server) server.closeAllConnections(); }),
  };
}

function plainServer(): Server {
  const server = new Server({ name: 'plain', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: 'bench_read', description: 'returns 1 KiB', inputSchema: { type: 'object', properties: { key: { type: 'string' } } } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const key = String(request.params.arguments?.key ?? '');
    return { content: [{ type: 'text', text: PAYLOAD }], structuredContent: { key, found: true, payload: PAYLOAD } };
  });
  return server;
}

/** A proxy with no policy at all: each session opens its own upstream client and forwards list and call. */
function proxyServer(upstreamUrl: string): () => Server {
  return () => {
    const server = new Server({ name: 'proxy', version: '1' }, { capabilities: { tools: {} } });
    const upstream = connect(upstreamUrl, {});
    server.setRequestHandler(ListToolsRequestSchema, async (r) => (await upstream).listTools(r.params));
    server.setRequestHandler(CallToolRequestSchema, async (r) => (await upstream).callTool(r.params) as Promise<CallToolResult>);
    return server;
  };
}

async function connect(url: string, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }));
  return client;
}

/** Runs CLIENTS clients, each calling back to back for MEASURE_MS; latencies of every call, throughput over the run. */
async function measure(url: string, headers: Record<string, string>, call: Call): Promise<Measured> {
  log(`connecting ${CLIENTS} clients to ${url}`);
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect(url, headers)));
  log('warming up');
  const warmEnd = performance.now() + WARMUP_MS;
  await Promise.all(clients.map(async (c) => { while (performance.now() < warmEnd) await call(c); }));
  log('measuring');
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + MEASURE_MS;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const t = performance.now();
        await call(c);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  log(`${latencies.length} calls in ${seconds.toFixed(1)}s`);
  await Promise.all(clients.map((c) => c.close()));
  log('clients closed');
  latencies.sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { p50: at(0.5), p99: at(0.99), perSecond: latencies.length / seconds };
}

export async function run(): Promise<BenchResult[]> {
  const check = (name: string) => async (client: Client) => {
    const result = (await client.callTool({ name, arguments: { key: 'welcome' } })) as CallToolResult;
    if (result.isError) throw new Error(`bench call failed: ${JSON.stringify(result.content)}`);
  };
  const plain = await serveMcp(plainServer);
  const proxy = await serveMcp(proxyServer(plain.url));
  process.env.TEST_DATABASE_URL ??= process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const stack = await startStack({
    config: `holdSeconds: 25\nrateLimit: { perMinute: 1000000 }\npolicy:\n  default: deny\n  rules:\n    - id: bench-reads\n      tools: [bench_read_note]\n      decision: allow\n`,
    connectors: [createTestConnector({ name: 'bench', payloadBytes: 1024 })],
  });
  try {
    const { token } = await stack.addAgent('bench-agent', 'bench@example.com');
    const a = await measure(plain.url, {}, check('bench_read'));
    const b = await measure(proxy.url, {}, check('bench_read'));
    const c = await measure(stack.url, { authorization: `Bearer ${token}` }, check('bench_read_note'));
    const scenario = (label: string, m: Measured, base?: { label: string; m: Measured }): BenchResult[] => [
      { name: `mcp ${label} p50`, value: m.p50, unit: 'ms', baseline: base && { name: `${base.label} p50`, value: base.m.p50 } },
      { name: `mcp ${label} p99`, value: m.p99, unit: 'ms', baseline: base && { name: `${base.label} p99`, value: base.m.p99 } },
      { name: `mcp ${label} throughput`, value: m.perSecond, unit: 'calls/s', baseline: base && { name: `${base.label} throughput`, value: base.m.perSecond } },
    ];
    const direct = { label: '(a) plain server', m: a };
    const bare = { label: '(b) bare proxy', m: b };
    return [
      ...scenario('(a) plain server', a),
      ...scenario('(b) bare proxy', b, direct),
      ...scenario('(c) countersign, PostgreSQL audit', c, bare),
      { name: 'mcp countersign p50 added over bare proxy', value: c.p50 - b.p50, unit: 'ms', baseline: { name: '(b) bare proxy p50', value: b.p50 }, target: '<= 0.5 ms' },
      { name: 'mcp countersign throughput / bare proxy', value: c.perSecond / b.perSecond, unit: 'ratio', baseline: { name: '(b) bare proxy calls/s', value: b.perSecond }, target: '>= 0.8' },
      { name: 'mcp bare proxy throughput / plain server', value: b.perSecond / a.perSecond, unit: 'ratio', baseline: { name: '(a) plain server calls/s', value: a.perSecond } },
    ];
  } finally {
    log('closing');
    await stack.close();
    log('stack closed');
    await proxy.close();
    await plain.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(3)})` : ''}${r.target ? ` target ${r.target}` : ''}`);
  process.exit(0);
}
