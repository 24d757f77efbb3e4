import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonObject } from '../kernel/index.ts';
import { freshDatabase } from '../test/support/db.ts';
import { startKernel, type KernelFixture } from '../test/support/kernel-fixture.ts';
import type { BenchResult } from './types.ts';

/**
 * The kernel's share of a governed call, without HTTP, MCP or an upstream: `request.submit` through the router for the
 * test connector's read and write tools (auto-allowed), the executor host in the same process, on PostgreSQL (a fresh
 * database on TEST_DATABASE_URL) and on in-memory PGlite. Per call: describe, digest, policy, grant minted, sent,
 * verified and consumed, the audit entries queued, the request recorded, and the sequencer's share of integrating
 * them. CPU per call is this process's CPU time (all threads, so the database driver's and PGlite's work too; not
 * PostgreSQL's own processes) over the calls; the baseline is the connector's own execute, called directly, which is
 * the floor: what the same work costs ungoverned. `npm run bench mcp` measures the whole gateway; the difference
 * between the two is the MCP front and the upstream hop. BENCH_KERNEL_CALLS (default 1,500) calls per scenario.
 */
const CALLS = Number(process.env.BENCH_KERNEL_CALLS ?? 1500);
const tools = { read: { tool: 'test_read_note', args: { key: 'welcome' } }, write: { tool: 'test_write_note', args: { key: 'n1', text: 'hello' } } };

async function cpuPerCall(concurrency: number, one: () => Promise<unknown>): Promise<{ cpuMs: number; wallMs: number }> {
  for (let i = 0; i < Math.min(300, CALLS / 5); i++) await one();
  const [cpu, start] = [process.cpuUsage(), performance.now()];
  let left = CALLS;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) await one();
  }));
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000 / CALLS, wallMs: (performance.now() - start) / CALLS };
}

/**
 * The disk's floor under a durable commit: appending a line to a file and flushing it (fdatasync), as PostgreSQL's
 * WAL and the executor's grant journal do, median of 100, in the temporary directory's file system. An allowed write
 * waits for two of these (its grant's consumption before the upstream call, its outcome after); a read for none.
 */
function diskFlushMs(): number {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-disk-'));
  try {
    const fd = openSync(join(dir, 'flush'), 'a');
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const start = performance.now();
      writeSync(fd, `line ${i}\n`);
      fdatasyncSync(fd);
      times.push(performance.now() - start);
    }
    closeSync(fd);
    return times.sort((a, b) => a - b)[50]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [{ name: 'disk: append and fdatasync one line (the floor of a durable commit), median of 100', value: diskFlushMs(), unit: 'ms' }];
  for (const kind of ['postgres', 'pglite'] as const) {
    if (kind === 'postgres') process.env.TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';
    const database = kind === 'postgres' ? await freshDatabase() : undefined;
    const k: KernelFixture = await startKernel({ database, policy: { default: 'allow', rules: [] } });
    try {
      const agentId = await k.addAgent('bench-agent', 'bench@example.com');
      for (const [op, { tool, args }] of Object.entries(tools)) {
        const submit = async () => {
          const view = await k.admin.send<JsonObject>('kernel', { op: 'request.submit', agentId, tool, args });
          if (view.state !== 'succeeded') throw new Error(`bench/kernel: ${tool} ended ${String(view.state)}: ${JSON.stringify(view.error)}`);
        };
        const execute = k.connector.tools.find((t) => t.name === tool)!;
        const direct = () => execute.execute(execute.input.parse(args), { requestId: 'req_bench', idempotencyKey: 'bench', pins: {}, marker: '' });
        for (const concurrency of [1, 16]) {
          const floor = await cpuPerCall(concurrency, direct);
          const governed = await cpuPerCall(concurrency, submit);
          const label = `kernel ${kind}, ${op}, ${concurrency === 1 ? '1 caller' : `${concurrency} callers`}`;
          results.push(
            { name: `${label}: CPU per call`, value: governed.cpuMs, unit: 'ms', baseline: { name: 'the connector called directly', value: floor.cpuMs, unit: 'ms' } },
            { name: `${label}: wall time per call`, value: governed.wallMs, unit: 'ms' },
          );
        }
      }
    } finally {
      await k.close();
      await database?.close();
    }
  }
  return results;
}
