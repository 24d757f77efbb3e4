import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from '../scripts/bundle.mjs';
import type { BenchResult } from './types.ts';
import { startCountersign, type SetUsage } from './mcp/start.ts';

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
 * The variants above run every service in one process (createServices, i.e. `--isolation none`); `countersign start`
 * defaults to `--isolation process`, which processSet measures too (on each database BENCH_MCP_DB names, CPU summed
 * over every process of the set).
 * BENCH_MCP_ISOLATION=none|process|both (default both) runs the in-process variants, the process set, or both.
 * BENCH_GATEWAY_FLAGS adds Node/V8 flags to the in-process gateway's command line (an experiment's A/B).
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
  const flags = name === 'gateway.ts' ? [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), ...(process.env.BENCH_GATEWAY_FLAGS?.split(' ').filter(Boolean) ?? [])] : [];
  const child = fork(script(name), args, { execArgv: ['--expose-gc', ...flags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

/** What a scenario needs of its target: where it listens, the agent's token, and a CPU clock to read around the window. */
interface Target<U extends { cpuMs: number } = Usage> { url: string; token?: string; usage(): Promise<U> }

/** One scenario: a fresh load generator against `target`, the target's CPU clock read around the measured window. */
async function measure<U extends { cpuMs: number }>(target: Target<U>, tool: string, clients: number): Promise<Measured & { before: U; after: U }> {
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
  return { p50: at(0.5), p99: at(0.99), perSecond: latencies.length / done.seconds, cpuPerCall: (after.cpuMs - before.cpuMs) / latencies.length, calls: latencies.length, before, after };
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

/**
 * `countersign start` as it runs by default (`--isolation process`, gateway/isolation/supervisor.ts): supervisor,
 * kernel, one executor per connector and the edge, on PostgreSQL or embedded PGlite (`npm start`'s default), the
 * bench upstream wired by configuration and served by the `mcp` executor (bench/mcp/start.ts). CPU per call is summed
 * over every process of the set. Its baselines: the bare proxy measured right before each scenario, `countersign
 * start --isolation none` with the same config (the same connector in one process: what the processes themselves
 * cost), and the in-process variant above (`inProcess`, the bench connector through createServices) when it ran.
 * Reported, no targets; also the RSS of the set and of its kernel (which holds PGlite on the embedded database).
 */
async function processSet(upstream: Child, proxy: Child, inProcess: Map<string, Measured>, db: 'postgres' | 'pglite'): Promise<BenchResult[]> {
  const ops = (process.env.BENCH_MCP_OPS?.split(',').filter(Boolean) ?? ['read', 'write']) as ('read' | 'write')[];
  type SetMeasured = Awaited<ReturnType<typeof measure<SetUsage>>>;
  const measured = new Map<string, SetMeasured>();
  const proxied = new Map<string, Measured>();
  const rss = new Map<string, number>();
  let kernelRss = 0;
  for (const isolation of ['process', 'none'] as const) {
    log(`countersign start --isolation ${isolation}`);
    const set = await startCountersign(upstream.url, isolation, db);
    try {
      for (const op of ops) {
        for (const clients of [1, 32]) {
          // The proxy runs right before the process set each time, so drift in the machine's load hits both alike.
          if (isolation === 'process') proxied.set(`${op} ${clients}`, await measure(proxy, `bench_${op}`, clients));
          measured.set(`${isolation} ${op} ${clients}`, await measure(set, `bench_bench_${op}`, clients));
        }
      }
      const usage = await set.usage();
      rss.set(isolation, usage.rss / 2 ** 20);
      if (isolation === 'process') kernelRss = usage.processes.filter((x) => x.role === 'kernel').reduce((sum, x) => sum + x.rss, 0) / 2 ** 20;
    } finally {
      await set.close();
    }
  }
  const results: BenchResult[] = [];
  const set = `countersign start (process isolation) ${db}`;
  const one = `countersign start --isolation none ${db} (same config)`;
  const clientsLabel = (n: number) => (n === 1 ? '1 client' : `${n} clients`);
  for (const op of ops) {
    for (const clients of [1, 32]) {
      const p = { label: `bare proxy, ${op}, ${clientsLabel(clients)} (before the process set)`, m: proxied.get(`${op} ${clients}`)! };
      const s = measured.get(`process ${op} ${clients}`)!;
      const n = measured.get(`none ${op} ${clients}`)!;
      const label = `${set}, ${op}, ${clientsLabel(clients)}`;
      results.push(
        ...rows(p),
        ms(`${label} p50`, s.p50, { name: `${p.label} p50`, value: p.m.p50 }),
        ms(`${label} p99`, s.p99, { name: `${p.label} p99`, value: p.m.p99 }),
        { name: `${label} throughput`, value: s.perSecond, unit: 'calls/s', baseline: { name: `${p.label} throughput`, value: p.m.perSecond, unit: 'calls/s' } },
        ms(`${label} CPU per call (every process of the set)`, s.cpuPerCall, { name: `${p.label} CPU per call`, value: p.m.cpuPerCall }),
        ms(`${one}, ${op}, ${clientsLabel(clients)} p50`, n.p50, { name: `${label} p50`, value: s.p50 }),
        { name: `${one}, ${op}, ${clientsLabel(clients)} throughput`, value: n.perSecond, unit: 'calls/s', baseline: { name: `${label} throughput`, value: s.perSecond, unit: 'calls/s' } },
        ms(`${one}, ${op}, ${clientsLabel(clients)} CPU per call`, n.cpuPerCall, { name: `${label} CPU per call`, value: s.cpuPerCall }),
      );
      // Where the set's CPU went, process by process (the bench reads each one's clock before and after the window).
      // The executors of the built-in connectors (on their sandboxes, called by nobody here) are summed as one row.
      const before = new Map(s.before.processes.map((x) => [x.pid, x.cpuMs]));
      const busy = ['supervisor', 'edge', 'kernel', 'executor:mcp'];
      const others = s.after.processes.filter((x) => !busy.includes(x.role));
      const spent = (xs: SetUsage['processes']) => xs.reduce((sum, x) => sum + x.cpuMs - (before.get(x.pid) ?? 0), 0) / s.calls;
      for (const role of busy) results.push(ms(`${label}: CPU per call in the ${role} process`, spent(s.after.processes.filter((x) => x.role === role))));
      results.push(ms(`${label}: CPU per call in the other processes (${others.map((x) => x.role).join(', ')})`, spent(others)));
    }
    const [s1, s32, n1, n32, p1, p32] = [measured.get(`process ${op} 1`)!, measured.get(`process ${op} 32`)!, measured.get(`none ${op} 1`)!, measured.get(`none ${op} 32`)!, proxied.get(`${op} 1`)!, proxied.get(`${op} 32`)!];
    results.push(
      ms(`${set}, ${op}: p50 added over the bare proxy, 1 client`, s1.p50 - p1.p50),
      ms(`${set}, ${op}: p50 added by the processes over --isolation none (same config), 1 client`, s1.p50 - n1.p50),
      { name: `${set}, ${op}: throughput / bare proxy, 32 clients`, value: s32.perSecond / p32.perSecond, unit: 'ratio' },
      { name: `${set}, ${op}: throughput / --isolation none (same config), 32 clients`, value: s32.perSecond / n32.perSecond, unit: 'ratio' },
      ms(`${set}, ${op}: CPU per call added by the processes over --isolation none (same config), 32 clients`, s32.cpuPerCall - n32.cpuPerCall),
    );
    const in1 = inProcess.get(`${db} ${op} 1`);
    const in32 = inProcess.get(`${db} ${op} 32`);
    if (in1 && in32) {
      const base = `countersign ${db}, ${op}`;
      results.push(
        ms(`${set}, ${op}: p50, 1 client, against the in-process variant`, s1.p50, { name: `${base}, 1 client p50`, value: in1.p50 }),
        { name: `${set}, ${op}: throughput, 32 clients, against the in-process variant`, value: s32.perSecond, unit: 'calls/s', baseline: { name: `${base}, 32 clients throughput`, value: in32.perSecond, unit: 'calls/s' } },
        ms(`${set}, ${op}: CPU per call, 32 clients, against the in-process variant`, s32.cpuPerCall, { name: `${base}, 32 clients CPU per call (serving process)`, value: in32.cpuPerCall }),
      );
    }
  }
  results.push({ name: `${set}: RSS of every process of the set after the scenarios`, value: rss.get('process')!, unit: 'MB', baseline: { name: `${one}, same`, value: rss.get('none')!, unit: 'MB' } });
  // The process that holds the database and the pending requests (the kernel; on PGlite, PGlite too).
  results.push({ name: `${set}: RSS of its kernel process after the scenarios`, value: kernelRss, unit: 'MB', baseline: { name: `${one}, the one process`, value: rss.get('none')!, unit: 'MB' } });
  return results;
}

export async function run(): Promise<BenchResult[]> {
  await buildScripts();
  const upstream = await start('upstream.ts', []);
  const proxy = await start('proxy.ts', [upstream.url]);
  const kinds = (process.env.BENCH_MCP_DB ? [process.env.BENCH_MCP_DB] : ['postgres', 'pglite']) as ('postgres' | 'pglite')[];
  // none: the in-process variants only (as before); process: `countersign start`'s default process set only; both.
  const isolation = process.env.BENCH_MCP_ISOLATION ?? 'both';
  if (!['none', 'process', 'both'].includes(isolation)) throw new Error(`BENCH_MCP_ISOLATION must be none, process or both, got "${isolation}"`);
  const inProcess = new Map<string, Measured>();
  const results: BenchResult[] = [];
  try {
    const plain1 = { label: 'plain server, read, 1 client', m: await measure(upstream, 'bench_read', 1) };
    const plain32 = { label: 'plain server, read, 32 clients', m: await measure(upstream, 'bench_read', 32) };
    results.push(...rows(plain1), ...rows(plain32));
    // The in-process variants (createServices in one process, bench/mcp/gateway.ts), on each database.
    if (isolation !== 'process') {
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
            for (const [clients, m] of [[1, c1.m], [32, c32.m]] as const) inProcess.set(`${kind} ${op} ${clients}`, m);
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
    }
    if (isolation !== 'none') for (const kind of kinds) results.push(...(await processSet(upstream, proxy, inProcess, kind)));
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
