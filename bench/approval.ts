import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { verifyPasskeyEvidence, type JsonObject, type RequestView } from '../kernel/index.ts';
import { defineTool, type Connector, type ExecuteContext } from '../tools/spec.ts';
import { startStack } from '../test/support/harness.ts';
import type { BenchResult } from './types.ts';

/**
 * Approval latency: from the moment an approver's evidence is verified to the executor's first line, over 200 approvals
 * on one server (the whole stack, PGlite unless TEST_DATABASE_URL is set). The clock starts before approval.decide is
 * sent (so no sample is ever negative or clamped) and each sample subtracts the time that verifying that same assertion
 * takes (verifyPasskeyEvidence, timed just before on the same bytes); what remains is the decision's bookkeeping, the
 * claim and grant, the consume and the hop to the executor. Baseline, the same path without evidence: an auto-allowed
 * request of the same tool on the same server, from request.submit to the executor's first line.
 * Target (issue 4): p50 under 20 ms.
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
  const config = 'holdSeconds: 1\npolicy:\n  default: approve\n  rules:\n    - { id: auto, tools: [bench_pay], when: \'args.n < 0\', decision: allow }\n';
  const stack = await startStack({ config, connectors: [connector] });
  try {
    const { agentId } = await stack.addAgent('bench-agent', 'owner@example.com');
    const approver = await stack.enrollApprover('owner@example.com');
    const latencies: number[] = [];
    const verifying: number[] = [];
    for (let i = 0; i < APPROVALS + 10; i += 1) {
      const pending = await stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool: 'bench_pay', args: { n: i + 1 } });
      const { challenge } = await stack.port.send<JsonObject>('kernel', { op: 'approval.challenge', requestId: pending.id, decision: 'approve', approverId: approver.id });
      const credential = approver.authenticator.credentialForKernel();
      const response = approver.authenticator.assert({ challenge: challenge as string, rpId: 'localhost' }) as unknown as JsonObject;
      const v0 = performance.now();
      await verifyPasskeyEvidence({ response, digest: pending.digest, decision: 'approve', credential, expectedOrigin: new URL(stack.url).origin, expectedRPID: 'localhost' });
      const verify = performance.now() - v0;
      const sent = performance.now();
      await stack.port.send('kernel', { op: 'approval.decide', requestId: pending.id, decision: 'approve', reason: null, evidence: { kind: 'webauthn', response } });
      while (!starts.has(pending.id)) await new Promise((r) => setImmediate(r));
      // The first few warm up JIT and connection pools.
      if (i >= 10) {
        latencies.push(starts.get(pending.id)! - sent - verify);
        verifying.push(verify);
      }
    }

    const direct: number[] = [];
    for (let i = 0; i < APPROVALS + 10; i += 1) {
      const sent = performance.now();
      const view = await stack.port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool: 'bench_pay', args: { n: -1 - i } });
      if (view.state !== 'succeeded') throw new Error(`auto-allowed baseline request ended ${view.state}`);
      if (i >= 10) direct.push(starts.get(view.id)! - sent);
    }
    latencies.sort((a, b) => a - b);
    direct.sort((a, b) => a - b);
    verifying.sort((a, b) => a - b);
    return [
      {
        name: 'approval: evidence verified to executor first line, p50',
        value: percentile(latencies, 0.5),
        unit: 'ms',
        baseline: { name: 'auto-allowed submit to executor first line (no evidence) p50', value: percentile(direct, 0.5), unit: 'ms' },
        target: '< 20 ms',
        goal: { max: 20 },
      },
      {
        name: 'approval: evidence verified to executor first line, p99',
        value: percentile(latencies, 0.99),
        unit: 'ms',
        baseline: { name: 'auto-allowed submit to executor first line (no evidence) p99', value: percentile(direct, 0.99), unit: 'ms' },
      },
      { name: 'approval: verifying the passkey evidence itself, p50', value: percentile(verifying, 0.5), unit: 'ms' },
    ];
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(4)})` : ''}${r.target ? ` target ${r.target}` : ''}`);
  process.exit(0);
}
