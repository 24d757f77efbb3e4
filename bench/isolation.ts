import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CAPABILITIES, createRouter, type Message } from '../kernel/index.ts';
import { openChannel } from '../gateway/isolation/channel.ts';
import { startServerProcess } from '../test/support/server-process.ts';
import type { BenchResult } from './types.ts';

/**
 * The process hop of `--isolation process` (issue 17): one kernel message's round trip over a child's socket pair
 * (channel.ts, newline-delimited JSON) against the same message through the in-process router. A governed call that
 * policy allows makes five such round trips (agent.authenticate and request.submit edge->kernel, describe and execute
 * kernel->executor, grant.consume executor->kernel), so the added p50 per call is measured as five sequential ones, beside
 * the floor under them (the same frames echoed by a bare socket). Profiled 2026-11-28 at load 8: of a 37 us round trip, the
 * channel's own work (JSON, framing, a promise per call) is about 5 us; the sending process is busy for 26 us of it in
 * Node's stream machinery and syscalls (the floor: 32 us), so fewer round trips per call, not a leaner channel, is what
 * would move this number. Then the
 * resident memory of the whole set (supervisor, kernel, three executors, edge) against one `--isolation none` process.
 */

const here = dirname(fileURLToPath(import.meta.url));
const HOPS = 5;
const N = 5_000;

function p50(samples: number[]): number {
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return p50(samples);
}

const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

export async function run(): Promise<BenchResult[]> {
  const message: Message = { op: 'grant.consume', jti: '7c3b1f0e-2f7e-4a51-9f7b-1d2c3e4f5a6b', digest: 'a'.repeat(64) };
  // In one process: the router's own delivery, sender stamped, capability checked.
  const router = createRouter(async () => {});
  router.register('kernel', async () => ({ consumed: true }), CAPABILITIES.kernel);
  const executor = router.register('connector.bench', async () => null, CAPABILITIES.connector);
  const local = await timed(async () => {
    for (let i = 0; i < HOPS; i++) await executor.send('kernel', message);
  });

  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'isolation', 'peer.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const channel = openChannel(child.stdio[3] as Socket, async () => ({ ok: false, error: { code: 'bad_request', message: 'no' } }));
  const crossed = await timed(async () => {
    for (let i = 0; i < HOPS; i++) await channel.call('connector.bench', 'kernel', message);
  });
  channel.close();
  child.kill();

  // The floor under the channel: the same frame echoed by a bare Node socket, no parsing, no promise per call. What the
  // channel adds is the difference; the rest is Node's stream machinery, the syscalls and waking the other process.
  const echo = spawn(process.execPath, ['-e', "const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true }); s.on('data', (d) => s.write(d));"], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const raw = echo.stdio[3] as Socket;
  const frame = `${JSON.stringify({ c: 1, from: 'connector.bench', to: 'kernel', body: message })}\n`;
  let answered: () => void = () => {};
  raw.on('data', () => answered());
  const floor = await timed(async () => {
    for (let i = 0; i < HOPS; i++) await new Promise<void>((ok) => ((answered = ok), raw.write(frame)));
  });
  raw.destroy();
  echo.kill();

  const results: BenchResult[] = [
    {
      name: `process hop: ${HOPS} round trips per governed call, p50 added over one process`,
      value: crossed - local,
      unit: 'ms',
      baseline: { name: `${HOPS} in-process router deliveries, p50`, value: local, unit: 'ms' },
      target: '<= 0.2 ms',
      goal: { max: 0.2 },
    },
    {
      name: `process hop floor: ${HOPS} round trips of the same frame echoed by a bare Node socket, p50`,
      value: floor,
      unit: 'ms',
      baseline: { name: `${HOPS} round trips over the channel, p50`, value: crossed, unit: 'ms' },
    },
  ];

  if (process.platform === 'linux' && !process.env.BENCH_HOP_ONLY) {
    const isolated = await startServerProcess({ args: ['--isolation', 'process'], startSeconds: 300 });
    const health = (await (await fetch(`${isolated.url}/healthz`)).json()) as { processes: { pid: number }[] };
    const set = rss(isolated.pid) + health.processes.reduce((sum, p) => sum + rss(p.pid), 0);
    await isolated.close();
    const single = await startServerProcess({ args: ['--isolation', 'none'], startSeconds: 300 });
    const one = single.rssBytes();
    await single.close();
    results.push({
      name: `RSS of the set (supervisor + ${health.processes.length} processes), idle after start`,
      value: set / 2 ** 20,
      unit: 'MiB',
      baseline: { name: '--isolation none, one process', value: one / 2 ** 20, unit: 'MiB' },
    });
  }
  return results;
}
