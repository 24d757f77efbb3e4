import { sql } from 'drizzle-orm';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CAPABILITIES, KernelError, type Db, type Envelope, type Port, type Router } from '../../kernel/index.ts';

/**
 * Prometheus metrics of requests and approvals (prom-client, one registry per running core, so tests can run several
 * in a process). Counters and histograms move as the audit feed (feed.ts) sees each state change this process
 * integrated, so replicas sharing a database count every change once between them; gauges are read from the
 * database at scrape time and are the same on every replica.
 */
export interface OperatorMetrics {
  registry: Registry;
  policyDecision(decision: string): void;
  approverDecision(outcome: string): void;
  finished(tool: string, decision: string, state: string, seconds: number | null): void;
  approvalWaited(outcome: string, seconds: number): void;
  render(): Promise<string>;
}

const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows);

export function createOperatorMetrics(db: Db): OperatorMetrics {
  const registry = new Registry();
  const policy = new Counter({ name: 'countersign_policy_decisions_total', help: 'Policy decisions on requests, by decision (allow, approve, deny).', labelNames: ['decision'], registers: [registry] });
  const approvers = new Counter({ name: 'countersign_approval_decisions_total', help: 'Decisions approvers signed, by outcome (approve, reject).', labelNames: ['outcome'], registers: [registry] });
  const finished = new Counter({ name: 'countersign_requests_finished_total', help: 'Requests that reached a final state, by state.', labelNames: ['state'], registers: [registry] });
  const latency = new Histogram({
    name: 'countersign_request_duration_seconds',
    help: 'From a request received to its final state (succeeded, failed, unknown, denied, rejected, expired, cancelled), by tool and policy decision; approvals include the human wait.',
    labelNames: ['tool', 'decision'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  const wait = new Histogram({
    name: 'countersign_approval_wait_seconds',
    help: 'From a request held for approval to its approval being settled, by outcome (approved, rejected, expired, cancelled).',
    labelNames: ['outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400],
    registers: [registry],
  });
  new Gauge({
    name: 'countersign_pending_approvals',
    help: 'Requests waiting for approval now.',
    registers: [registry],
    async collect() {
      const [row] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from requests where state = 'pending'`));
      this.set(Number(row?.n ?? 0));
    },
  });
  new Gauge({
    name: 'countersign_audit_queue_entries',
    help: 'Audit entries committed and not yet integrated into the Merkle tree (sequencer lag).',
    registers: [registry],
    async collect() {
      const [row] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from audit_queue`));
      this.set(Number(row?.n ?? 0));
    },
  });
  new Gauge({
    name: 'countersign_audit_queue_oldest_seconds',
    help: 'Age of the oldest audit entry not yet integrated (0 when none waits); the sequencer aims for under 1 s.',
    registers: [registry],
    async collect() {
      const [row] = rowsOf<{ oldest: string | null }>(await db.execute(sql`select min(at) as oldest from audit_queue`));
      this.set(row?.oldest ? Math.max(0, (Date.now() - Date.parse(row.oldest)) / 1000) : 0);
    },
  });
  return {
    registry,
    policyDecision: (decision) => policy.inc({ decision }),
    approverDecision: (outcome) => approvers.inc({ outcome }),
    finished(tool, decision, state, seconds) {
      finished.inc({ state });
      if (seconds !== null) latency.observe({ tool, decision }, seconds);
    },
    approvalWaited: (outcome, seconds) => wait.observe({ outcome }, seconds),
    render: () => registry.metrics(),
  };
}

/** The endpoint /metrics asks for these, wherever the core runs (its own process with `--isolation process`). */
export const OPERATOR_ENDPOINT = 'operator';

/**
 * Serves the metrics' Prometheus text on the router as `operator`, op `metrics`: the edge holds no database handle and,
 * across processes, no registry of these, so it asks the core like any other kernel message. Nothing in it is secret.
 */
export function serveOperatorMetrics(router: Router, metrics: OperatorMetrics): Port {
  const handler = async ({ body }: Envelope): Promise<string> => {
    if (body.op !== 'metrics') throw new KernelError('bad_request', `operator answers only op 'metrics', not '${String(body.op)}'`);
    return await metrics.render();
  };
  return router.register(OPERATOR_ENDPOINT, handler, CAPABILITIES.operator);
}
