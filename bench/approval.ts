import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { JsonObject, RequestView } from '../kernel/index.ts';
import { defineTool, type Connector, type ExecuteContext } from '../tools/spec.ts';
import { startStack } from '../test/support/harness.ts';
import type { BenchResult } from './types.ts';

/**
 * Time from a verified approval (approval.decide returning to its caller, as it does for the web page) to the
 * executor starting the upstream call, over 200 approvals on one server (the whole stack, PGlite unless
 * TEST_DATABASE_URL is set). Baseline: the same executor called directly in-process, from the call to its first line.
 * An executor that starts before decide's reply arrives counts as 0 ms. Target (issue 4): p50 under 20 ms.
 */

const APPROVALS = 200;

function startsRecorder(): { connector: Connector; starts: Map<string, number> } {
  const starts = new Map<string, number>();
  const tool = defineTool({
    name: 'bench_pay',
    title: 'Pay',
    description: 'Records when execution starts (benchmark).',
    input: z.object({ n: z.number().int() }),
    impact: 'high',
    consequence: 'moves-money',
    async describe(args) {
      return { summary: `Pay ${args.n}`, consequence: 'moves-money', reversible: false, fields: [{ label: 'Amount', kind: 'money', value: args.n, currency: 'USD' }], pins: {} };
    },
    async execute(args, ctx: ExecuteContext) {
      starts.set(ctx.requestId, performance.now());
      return { data: { paid: args.n }, text: 'paid' };
    },
  });
  return { connector: { name: 'bench', sandbox: true, tools: [tool] }, starts };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function run(): Promise<BenchResult[]> {
  const { connector, starts } = startsRecorder();
  const stack = await startStack({ config: 'holdSeconds: 1\npolicy:\n  default: approve\n', connectors: [connector] });
  try {
    const { agentId } = await stack.addAgent('bench-agent', 'owner@example.com');
    const approver = await stack.enrollApprover('owner@example.com');
    const latencies: number[] = [];
    for (let i = 0; i < APPROVALS + 10; i += 1) {
      const pending = await stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool: 'bench_pay', args: { n: i + 1 } });
      await stack.decide(approver, pending.id, 'approve');
      const decidedAt = performance.now();
      while (!starts.has(pending.id)) await new Promise((r) => setImmediate(r));
      // The first few warm up JIT and connection pools.
      if (i >= 10) latencies.push(Math.max(0, starts.get(pending.id)! - decidedAt));
    }

    const spec = connector.tools[0];
    const direct: number[] = [];
    for (let i = 0; i < APPROVALS; i += 1) {
      const id = `direct_${i}`;
      const before = performance.now();
      await spec.execute({ n: i }, { requestId: id, idempotencyKey: id, pins: {} });
      direct.push(starts.get(id)! - before);
    }
    latencies.sort((a, b) => a - b);
    direct.sort((a, b) => a - b);
    return [
      {
        name: 'approval: verified decide to executor start, p50',
        value: percentile(latencies, 0.5),
        unit: 'ms',
        baseline: { name: 'direct in-process executor call p50', value: percentile(direct, 0.5) },
        target: '< 20 ms',
      },
      {
        name: 'approval: verified decide to executor start, p99',
        value: percentile(latencies, 0.99),
        unit: 'ms',
        baseline: { name: 'direct in-process executor call p99', value: percentile(direct, 0.99) },
      },
    ];
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(4)})` : ''}${r.target ? ` target ${r.target}` : ''}`);
  process.exit(0);
}
