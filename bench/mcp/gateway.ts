import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { z } from 'zod';
import { count, eq } from 'drizzle-orm';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createServices } from '../../gateway/app.ts';
import { openDatabase, statementLog } from '../../gateway/db.ts';
import { schema, type JsonObject, type ToolResult } from '../../kernel/index.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { freshDatabase } from '../../test/support/db.ts';
import { answerUsage, connect } from './serve.ts';

/**
 * Countersign for the MCP bench, in its own process: the real services (kernel, router, MCP gateway, web app) on
 * PostgreSQL (a fresh database on BENCH_DATABASE_URL) or on embedded PGlite on disk, as `countersign start` runs it.
 * Its one connector executes against the bench upstream over HTTP through one shared MCP client, like the bare proxy,
 * with the `mcp` connector's fetch (tools/mcp/fetch.ts, through `connect`), as every downstream MCP server over HTTP is
 * reached.
 * Policy: reads and writes auto-allowed, `bench_approve` needs a human (for the pending-approvals memory scenario).
 */
const [upstreamUrl, kind] = [process.argv[2]!, process.argv[3] as 'postgres' | 'pglite'];
const upstream = await connect(upstreamUrl);

async function forward(name: string, args: JsonObject): Promise<ToolResult> {
  const result = (await upstream.callTool({ name, arguments: args })) as CallToolResult;
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  return { data: (result.structuredContent ?? {}) as JsonObject, text };
}

const key = z.string().min(1).max(64);
const connector: Connector = {
  name: 'bench',
  sandbox: true,
  tools: [
    defineTool({
      name: 'bench_read', title: 'Read', description: 'Reads a note from the bench upstream (1 KiB).',
      input: z.object({ key }), impact: 'read', consequence: 'reads',
      describe: async (args) => ({ summary: `Read ${args.key}`, consequence: 'reads', reversible: true, fields: [], pins: {} }),
      execute: (args) => forward('bench_read', args),
    }),
    defineTool({
      name: 'bench_write', title: 'Write', description: 'Writes a note upstream.',
      input: z.object({ key, text: z.string().max(10_000) }), impact: 'write', consequence: 'writes',
      describe: async (args) => ({ summary: `Write ${args.key}`, consequence: 'writes', reversible: true, fields: [], pins: {} }),
      execute: (args) => forward('bench_write', args),
    }),
    defineTool({
      name: 'bench_approve', title: 'Write after approval', description: 'Writes a note once a human approves.',
      input: z.object({ key, text: z.string().max(10_000) }), impact: 'write', consequence: 'writes',
      describe: async (args) => ({ summary: `Write ${args.key}`, consequence: 'writes', reversible: true, fields: [], pins: {} }),
      execute: (args) => forward('bench_write', args),
    }),
  ],
};

const home = mkdtempSync(join(tmpdir(), 'countersign-bench-'));
const configPath = join(home, 'countersign.yaml');
writeFileSync(configPath, `holdSeconds: 25
rateLimit: { perMinute: 100000000 }
roles: { approvers: [bench-approver@example.com] }
policy:
  default: deny
  rules:
    - { id: bench-reads, tools: [bench_read], decision: allow }
    - { id: bench-writes, tools: [bench_write], decision: allow }
    - { id: bench-approvals, tools: [bench_approve], decision: approve, approvers: { role: approvers, count: 1 } }
`);
if (kind === 'postgres') process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const database = kind === 'postgres' ? await freshDatabase() : await openDatabase({ dataDir: join(home, 'db') });
// As serveHttp passes them: Node's request and response reach the app as `c.env` (the client's address, the MCP body).
const server: ServerType = serve({ fetch: (req, env) => services.app.fetch(req, env), port: 0, hostname: '127.0.0.1' });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const address = server.address();
const listenPort = typeof address === 'object' && address ? address.port : 0;
const services = await createServices({ home, configPath, database, publicUrl: `http://localhost:${listenPort}`, port: listenPort, host: '127.0.0.1', connectors: [connector] });
const added = await services.admin.send<JsonObject>('kernel', { op: 'agent.add', name: 'bench-agent', owner: 'bench@example.com' });

answerUsage(async () => {
  const [row] = await services.database.db.select({ n: count() }).from(schema.requests).where(eq(schema.requests.state, 'pending'));
  return { pending: row?.n ?? 0 };
});

/**
 * What the bench asks for around each measured window (a `usage` message before and after) can also be looked into:
 * BENCH_SQL_LOG=file appends the statements sent to PostgreSQL since the last `usage`, counted by text; BENCH_WINDOW_PROF=dir
 * writes a CPU profile per window, w<n>.cpuprofile. Window 0 is the start-up; then the first scenario's
 * measured window (1), the next one's warm-up (2), its window (3), and so on; the session and memory scenarios end the list.
 */
if (process.env.BENCH_SQL_LOG) statementLog.counts = new Map();
// BENCH_PGLITE_TIME=file (PGlite only): the time each statement spent inside PGlite (its WebAssembly, on this
// thread) in each window: total, count, mean. Statements are told apart by their text, read from the protocol
// messages PGlite is handed (Parse names a statement, Bind runs one, Query is a simple statement such as BEGIN).
const inPglite = new Map<string, { ms: number; n: number }>();
if (process.env.BENCH_PGLITE_TIME && kind === 'pglite') {
  const client = (database.db as unknown as { $client: { execProtocolRawSync(b: Uint8Array): Uint8Array } }).$client;
  const raw = client.execProtocolRawSync.bind(client);
  const texts = new Map<string, string>();
  const cstring = (b: Uint8Array, at: number) => [Buffer.from(b.subarray(at, b.indexOf(0, at))).toString(), b.indexOf(0, at) + 1] as const;
  client.execProtocolRawSync = (b) => {
    let text = '(other)';
    if (b[0] === 80) {
      const [name, at] = cstring(b, 5);
      texts.set(name, (text = cstring(b, at)[0].replace(/\s+/g, ' ').slice(0, 140)));
    } else if (b[0] === 66) text = texts.get(cstring(b, cstring(b, 5)[1])[0]) ?? text;
    else if (b[0] === 81) text = cstring(b, 5)[0].slice(0, 140);
    const started = performance.now();
    try {
      return raw(b);
    } finally {
      const entry = inPglite.get(text) ?? inPglite.set(text, { ms: 0, n: 0 }).get(text)!;
      entry.ms += performance.now() - started;
      entry.n += b[0] === 80 ? 0 : 1;
    }
  };
}
let profiler: Session | undefined;
let windows = 0;
async function lookInto(): Promise<void> {
  const log = process.env.BENCH_SQL_LOG;
  if (log && statementLog.counts) {
    const lines = [...statementLog.counts].sort((a, b) => b[1] - a[1]).map(([text, n]) => `${n}\t${text.replace(/\s+/g, ' ').slice(0, 160)}`);
    appendFileSync(log, `== window ${windows} ended ${new Date().toISOString()}\n${lines.join('\n')}\n`);
    statementLog.counts.clear();
  }
  if (process.env.BENCH_PGLITE_TIME && inPglite.size) {
    const total = [...inPglite.values()].reduce((sum, e) => sum + e.ms, 0);
    const lines = [...inPglite].sort((a, b) => b[1].ms - a[1].ms).map(([text, e]) => `${e.ms.toFixed(1)} ms\t${e.n}\t${(e.ms / Math.max(e.n, 1)).toFixed(3)} ms\t${text}`);
    appendFileSync(process.env.BENCH_PGLITE_TIME, `== window ${windows} ended ${new Date().toISOString()}: ${total.toFixed(1)} ms in PGlite\n${lines.join('\n')}\n`);
    inPglite.clear();
  }
  const dir = process.env.BENCH_WINDOW_PROF;
  if (!dir) return void windows++;
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(join(dir, `w${String(windows).padStart(2, '0')}.cpuprofile`), JSON.stringify(profile));
  } else {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
  }
  windows++;
  await profiler.post('Profiler.start');
}
process.on('message', (m: { op?: string }) => {
  if (m?.op === 'usage') void lookInto();
  if (m?.op !== 'close') return;
  void (async () => {
    server.close();
    if ('closeAllConnections' in server) server.closeAllConnections();
    await services.close();
    await database.close();
    rmSync(home, { recursive: true, force: true });
    process.exit(0);
  })();
});
process.send?.({ op: 'ready', url: `http://127.0.0.1:${listenPort}`, token: added.token });
