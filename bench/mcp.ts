import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from '../scripts/bundle.mjs';
import type { BenchResult } from './types.ts';

/**
 * What Countersign costs per MCP call. Every party runs in its own process: the upstream (a plain SDK server with a
 * 1 KiB read tool and a write tool), the bare SDK proxy in front of it, Countersign (PostgreSQL, and embedded PGlite on
 * disk) whose bench connector executes against the same upstream over HTTP, and the load generator. Each scenario
 * runs at 1 client (latency) and 32 clients (throughput); CPU per call is the serving process's CPU time over the
 * calls it served. The memory scenario holds 1,000 calls awaiting approval over 100 sessions.
 * Targets (issue 13): read p50 added <= 1 ms, write p50 added <= 2 ms, 32-client throughput >= 0.8 of the proxy,
 * gateway CPU <= 1 ms per call, RSS <= 250 MB with 1,000 pending approvals and 100 sessions.
 * Every process runs built ahead of time, as `countersign start` runs (scripts/bundle.mjs): under tsx's loader the same
 * gateway held about 55 MB more (2026-11-28), which the memory target would have counted against Countersign.
 * BENCH_MCP_SECONDS sets each scenario's length (default 5); BENCH_MCP_DB=postgres|pglite runs one database only.
 */

const here = dirname(fileURLToPath(import.meta.url));
const MEASURE_MS = Number(process.env.BENCH_MCP_SECONDS ?? 5) * 1000;
const log = (m: string) => process.env.BENCH_VERBOSE && process.stderr.write(`bench/mcp: ${m}\n`);

interface Usage { cpuMs: number; rss: number; heap: number; external: number; pending?: number }
interface Child { process: ChildProcess; url: string; token?: string; usage(gc?: boolean): Promise<Usage>; close(): Promise<void> }
interface Measured { p50: number; p99: number; perSecond: number; cpuPerCall: number; calls: number }

const root = resolve(here, '..');
const built = join(root, '.build', 'bench-mcp');
/** The bench's processes, bundled like the CLI; `script` is a file name under bench/mcp. */
const script = (name: string) => join(built, name.replace(/\.ts$/, '.js'));
async function buildScripts(): Promise<void> {
  const names = ['upstream', 'proxy', 'gateway', 'load'];
  await build({ ...bundleOptions(root), entryPoints: Object.fromEntries(names.map((n) => [n, join(here, 'mcp', `${n}.ts`)])), outdir: built });
}

function start(name: string, args: string[]): Promise<Child> {
  const child = fork(script(name), args, { execArgv: ['--expose-gc', ...(process.env.BENCH_CPU_PROF && name === 'gateway.ts' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
    child.once('message', (m: { url: string; token?: string }) => {
      child.removeAllListeners('exit');
      resolve({
        process: child,
        url: m.url,
        token: m.token,
        usage: (gc = false) => new Promise((res) => { child.once('message', (u: Usage) => res(u)); child.send({ op: 'usage', gc }); }),
        close: () => new Promise((res) => {
          child.once('exit', () => res());
          if (name === 'gateway.ts') child.send({ op: 'close' });
          else child.kill();
        }),
      });
    });
  });
}

/** One scenario: a fresh load generator against `target`, the target's CPU clock read around the measured window. */
async function measure(target: Child, tool: string, clients: number): Promise<Measured> {
  log(`${clients} clients -> ${target.url} ${tool}`);
  const load = fork(script('load.ts'), ['calls', target.url, target.token ?? '', tool, String(clients), String(MEASURE_MS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>() => new Promise<T>((res, rej) => { load.once('message', (m: T) => res(m)); load.once('exit', (code) => code && rej(new Error(`load generator exited with ${code}`))); });
  await next<{ op: 'warm' }>();
  const before = await target.usage();
  load.send({ op: 'go' });
  const done = await next<{ latencies: number[]; seconds: number }>();
  const after = await target.usage();
  const exited = new Promise((res) => load.once('exit', res));
  load.send({ op: 'bye' });
  await exited;
  const latencies = done.latencies.sort((x, y) => x - y);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { p50: at(0.5), p99: at(0.99), perSecond: latencies.length / done.seconds, cpuPerCall: (after.cpuMs - before.cpuMs) / latencies.length, calls: latencies.length };
}

/**
 * MCP session creation: `count` sessions opened one after another (initialize and a first tools/list), each one's
 * latency, the target's CPU per session and its memory per session still open (JS heap and buffers after a full GC in the target).
 */
async function sessionCost(target: Child, count: number): Promise<{ p50: number; cpuPerSession: number; kbPerSession: number }> {
  const load = fork(script('load.ts'), ['sessions', target.url, target.token ?? '', 'none', String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const before = await target.usage(true);
  load.send({ op: 'go' });
  const done = await new Promise<{ latencies: number[] }>((res) => load.once('message', res));
  const after = await target.usage(true);
  const exited = new Promise((res) => load.once('exit', res));
  load.send({ op: 'bye' });
  await exited;
  const sorted = done.latencies.sort((x, y) => x - y);
  return { p50: sorted[Math.floor(sorted.length / 2)]!, cpuPerSession: (after.cpuMs - before.cpuMs) / count, kbPerSession: (after.heap + after.external - before.heap - before.external) / 1024 / count };
}

/** RSS of a Countersign process holding 1,000 calls that await approval, over 100 open MCP sessions. */
async function heldRss(target: Child): Promise<{ rss: number; pending: number }> {
  const load = fork(script('load.ts'), ['hold', target.url, target.token ?? '', 'bench_approve', '100', '0', '10'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((res) => load.once('message', res));
  let usage = await target.usage();
  for (let i = 0; i < 120 && (usage.pending ?? 0) < 1000; i++) {
    await new Promise((res) => setTimeout(res, 500));
    usage = await target.usage();
  }
  load.kill();
  return { rss: usage.rss / 2 ** 20, pending: usage.pending ?? 0 };
}

type Row = { label: string; m: Measured };
const ms = (name: string, value: number, base?: { name: string; value: number }, target?: string, goal?: BenchResult['goal']): BenchResult =>
  ({ name, value, unit: 'ms', baseline: base && { ...base, unit: 'ms' }, target, goal });

function rows(row: Row, base?: Row): BenchResult[] {
  return [
    ms(`${row.label} p50`, row.m.p50, base && { name: `${base.label} p50`, value: base.m.p50 }),
    ms(`${row.label} p99`, row.m.p99, base && { name: `${base.label} p99`, value: base.m.p99 }),
    { name: `${row.label} throughput`, value: row.m.perSecond, unit: 'calls/s', baseline: base && { name: `${base.label} throughput`, value: base.m.perSecond, unit: 'calls/s' } },
    { name: `${row.label} CPU per call (serving process)`, value: row.m.cpuPerCall, unit: 'ms', baseline: base && { name: `${base.label} CPU per call`, value: base.m.cpuPerCall, unit: 'ms' } },
  ];
}

export async function run(): Promise<BenchResult[]> {
  await buildScripts();
  const upstream = await start('upstream.ts', []);
  const proxy = await start('proxy.ts', [upstream.url]);
  const kinds = (process.env.BENCH_MCP_DB ? [process.env.BENCH_MCP_DB] : ['postgres', 'pglite']) as ('postgres' | 'pglite')[];
  const results: BenchResult[] = [];
  try {
    const plain1 = { label: 'plain server, read, 1 client', m: await measure(upstream, 'bench_read', 1) };
    const plain32 = { label: 'plain server, read, 32 clients', m: await measure(upstream, 'bench_read', 32) };
    results.push(...rows(plain1), ...rows(plain32));
    const proxySessions = await sessionCost(proxy, 200);
    for (const kind of kinds) {
      const gateway = await start('gateway.ts', [upstream.url, kind]);
      try {
        for (const op of (process.env.BENCH_MCP_OPS?.split(',').filter(Boolean) ?? ['read', 'write']) as ('read' | 'write')[]) {
          // The proxy runs right before Countersign each time, so drift in the machine's load hits both alike.
          const p1 = { label: `bare proxy, ${op}, 1 client`, m: await measure(proxy, `bench_${op}`, 1) };
          const c1 = { label: `countersign ${kind}, ${op}, 1 client`, m: await measure(gateway, `bench_${op}`, 1) };
          const p32 = { label: `bare proxy, ${op}, 32 clients`, m: await measure(proxy, `bench_${op}`, 32) };
          const c32 = { label: `countersign ${kind}, ${op}, 32 clients`, m: await measure(gateway, `bench_${op}`, 32) };
          const limit = op === 'read' ? 1 : 2;
          results.push(
            ...rows(p1), ...rows(c1, p1), ...rows(p32), ...rows(c32, p32),
            ms(`countersign ${kind}, ${op}: p50 added over the bare proxy, 1 client`, c1.m.p50 - p1.m.p50, undefined, `<= ${limit} ms`, { max: limit }),
            { name: `countersign ${kind}, ${op}: throughput / bare proxy, 32 clients`, value: c32.m.perSecond / p32.m.perSecond, unit: 'ratio', target: '>= 0.8', goal: { min: 0.8 } },
            ms(`countersign ${kind}, ${op}: gateway CPU per call, 32 clients`, c32.m.cpuPerCall, { name: 'bare proxy CPU per call', value: p32.m.cpuPerCall }, '<= 1 ms', { max: 1 }),
          );
        }
        const sessions = await sessionCost(gateway, 200);
        results.push(
          { name: `countersign ${kind}: MCP session opened (initialize + tools/list), p50 of 200`, value: sessions.p50, unit: 'ms', baseline: { name: 'bare proxy, same', value: proxySessions.p50, unit: 'ms' } },
          { name: `countersign ${kind}: CPU per MCP session opened`, value: sessions.cpuPerSession, unit: 'ms', baseline: { name: 'bare proxy, same', value: proxySessions.cpuPerSession, unit: 'ms' } },
          { name: `countersign ${kind}: memory per open MCP session (JS heap and buffers after a full GC, 200 open)`, value: sessions.kbPerSession, unit: 'KB', baseline: { name: 'bare proxy, same', value: proxySessions.kbPerSession, unit: 'KB' }, target: 'report' },
        );
        if (process.env.BENCH_MCP_HOLD === '0') continue;
        const held = await heldRss(gateway);
        results.push({ name: `countersign ${kind}: RSS with ${held.pending} pending approvals held over 100 MCP sessions`, value: held.rss, unit: 'MB', target: '<= 250 MB (1,000 pending)', goal: held.pending >= 1000 ? { max: 250 } : { max: -1 } });
      } finally {
        await gateway.close();
      }
    }
  } finally {
    await proxy.close();
    await upstream.close();
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(3)})` : ''}${r.target ? ` target ${r.target}` : ''}`);
  process.exit(0);
}
