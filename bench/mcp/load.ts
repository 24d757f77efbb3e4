import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connect } from './serve.ts';

/**
 * The load generator, in its own process so its CPU never hides the gateway's. `calls` mode: CLIENTS sessions call
 * TOOL back to back; after WARMUP_MS it says `warm` and waits for `go` (the parent reads the gateway's CPU clock
 * between the two), measures for MEASURE_MS, waits for calls in flight and reports every latency. `hold` mode:
 * CLIENTS sessions each start PER calls that wait for a human, and stay open until the parent kills the process.
 * `sessions` mode: after `go`, opens CLIENTS sessions one after another (initialize, then one tools/list, as an agent
 * starts), reports each one's latency, and keeps them open until `bye`. Its clients use the same fetch as the proxy
 * (`connect`): with Node's, undici's abort listeners on each session's signal cost this process CPU that the servers
 * it measures then lack (and warned past 1,500 listeners, thousands of lines per run).
 */
const [mode, url, token, tool, clientsArg, measureArg, perArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
if (mode === 'sessions') {
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const opened: Client[] = [];
  const latencies: number[] = [];
  for (let i = 0; i < clients; i++) {
    const t = performance.now();
    const c = await connect(url!, headers);
    await c.listTools();
    latencies.push(performance.now() - t);
    opened.push(c);
  }
  process.send?.({ op: 'done', latencies });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.exit(0);
}
const sessions: Client[] = await Promise.all(Array.from({ length: clients }, () => connect(url!, headers)));
let n = 0;
const call = async (c: Client) => {
  const result = (await c.callTool({ name: tool!, arguments: tool!.includes('read') ? { key: 'welcome' } : { key: `k${n++ % 100}`, text: 'bench' } })) as CallToolResult;
  if (result.isError) throw new Error(`bench call failed: ${JSON.stringify(result.content)}`);
};

if (mode === 'hold') {
  const per = Number(perArg);
  for (const c of sessions) for (let i = 0; i < per; i++) void c.callTool({ name: tool!, arguments: { key: `k${i}`, text: 'bench' } }, undefined, { timeout: 600_000 }).catch(() => {});
  process.send?.({ op: 'sent' });
} else {
  const warmEnd = performance.now() + 1000;
  await Promise.all(sessions.map(async (c) => { while (performance.now() < warmEnd) await call(c); }));
  process.send?.({ op: 'warm' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + Number(measureArg);
  await Promise.all(sessions.map(async (c) => {
    while (performance.now() < end) {
      const t = performance.now();
      await call(c);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  process.send?.({ op: 'done', latencies, seconds });
  // The parent reads the gateway's CPU clock before the sessions close.
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  await Promise.all(sessions.map((c) => c.close().catch(() => {})));
  process.exit(0);
}
