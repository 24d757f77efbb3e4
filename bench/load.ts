import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startCluster, type Cluster } from './load/cluster.ts';
import { check, type Checked } from './load/check.ts';
import type { Done, Go, Kind } from './load/agents.ts';
import type { Report } from './load/approver.ts';
import type { BenchResult } from './types.ts';

/**
 * Issue 10's load: LOAD_AGENTS agents (default 50) x LOAD_CALLS mixed calls each (default 200: half reads, the rest
 * allowed writes, denials and calls the owner approves) against two `countersign start` replicas on one PostgreSQL
 * database, agents split between them. Every party has its own process: the two servers, the load generator
 * (bench/load/agents.ts), the scripted approver (bench/load/approver.ts), and this one, which holds the GitHub and
 * Stripe sandboxes behind taps that count upstream effects. Baseline, same run, same cluster: the same mix with every
 * agent and the approver on one replica (LOAD_BASELINE=0 skips it). Afterwards it checks, and fails the bench unless:
 * every call answered as policy says, 0 audit gaps, `audit verify` passes, 0 duplicates, and upstream effects equal
 * succeeded write requests. Database: LOAD_DATABASE_URL, else TEST_DATABASE_URL, else the local test server.
 */

const here = dirname(fileURLToPath(import.meta.url));
const KINDS: Kind[] = ['read', 'write', 'deny', 'approve'];
const LABEL: Record<Kind, string> = { read: 'read (allowed)', write: 'write (allowed issue)', deny: 'denial', approve: 'approval (held until the scripted owner approves)' };
const log = (m: string) => process.env.BENCH_VERBOSE && process.stderr.write(`bench/load: ${m}\n`);

export interface Phase {
  label: string;
  agents: number;
  calls: number;
  seconds: number;
  perSecond: number;
  p50: Record<Kind, number>;
  p99: Record<Kind, number>;
  expected: Record<Kind, number>;
  unexpected: Done['unexpected'];
  decided: number;
  refusedDecisions: Report['refused'];
}

function child(script: string): ChildProcess {
  return fork(join(here, 'load', script), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function next<T>(process: ChildProcess, op: string): Promise<T> {
  return new Promise((res, rej) => {
    const onExit = (code: number | null) => rej(new Error(`${op}: the child process exited with ${code} first`));
    process.once('exit', onExit);
    process.once('message', (m) => { process.off('exit', onExit); res(m as T); });
  });
}

/** One run of the mix: `agents` agents spread over `urls`, the approver reading its inbox from each of `urls` in turn. */
async function phase(cluster: Cluster, label: string, urls: string[], tokens: string[], calls: number, email: string): Promise<Phase> {
  const approver = child('approver.ts');
  approver.send({ op: 'start', urls, publicUrl: cluster.publicUrl, home: cluster.homes[0]!, email });
  await next(approver, 'approver enrollment');
  const load = child('agents.ts');
  log(`${label}: ${tokens.length} agents x ${calls} calls`);
  load.send({ op: 'go', agents: tokens.map((token, i) => ({ token, url: urls[i % urls.length]! })), calls, tag: label } satisfies Go);
  const done = await next<Done>(load, 'load generator');
  approver.send({ op: 'stop' });
  const report = await next<Report>(approver, 'approver');
  const at = (samples: number[], q: number) => {
    const sorted = [...samples].sort((x, y) => x - y);
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
  };
  const by = (q: number) => Object.fromEntries(KINDS.map((k) => [k, at(done.latencies[k], q)])) as Record<Kind, number>;
  const total = KINDS.reduce((sum, k) => sum + done.latencies[k].length, 0);
  return {
    label, agents: tokens.length, calls: total, seconds: done.seconds, perSecond: total / done.seconds,
    p50: by(0.5), p99: by(0.99), expected: done.expected, unexpected: done.unexpected, decided: report.decided, refusedDecisions: report.refused,
  };
}

export interface LoadRun { phases: Phase[]; checked: Checked; problems: string[] }

/** Starts the cluster, runs the phases, checks what must hold, and stops everything. */
export async function runLoad(options: { agents: number; calls: number; baseline: boolean; baseUrl: string; probe?: (cluster: Cluster) => Promise<void> }): Promise<LoadRun> {
  const cluster = await startCluster({ replicas: 2, baseUrl: options.baseUrl, log });
  try {
    // Each phase has its own owner (and so its own inbox) and its own agents.
    const phases: Phase[] = [];
    const runs = [
      ...(options.baseline ? [{ label: 'one replica', urls: [cluster.replicas[0]!.url] }] : []),
      { label: 'two replicas', urls: cluster.replicas.map((r) => r.url) },
    ];
    for (const [p, run] of runs.entries()) {
      const email = `owner${p}@example.com`;
      const tokens: string[] = [];
      for (let i = 0; i < options.agents; i++) {
        tokens.push((JSON.parse(await cluster.cli(['agent', 'add', `load-${p}-${i}`, '--owner', email])) as { token: string }).token);
      }
      phases.push(await phase(cluster, run.label, run.urls, tokens, options.calls, email));
    }
    const checked = await check(cluster, phases.reduce((sum, p) => sum + p.calls, 0));
    // A test may tamper with the finished cluster to prove the checks can fail.
    await options.probe?.(cluster);
    const problems = [...checked.problems];
    for (const p of phases) {
      if (p.unexpected.length) problems.push(`${p.label}: ${p.unexpected.length} calls answered otherwise than policy says, e.g. ${JSON.stringify(p.unexpected[0])}`);
    }
    return { phases, checked, problems };
  } finally {
    await cluster.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const agents = Number(process.env.LOAD_AGENTS ?? 50);
  const calls = Number(process.env.LOAD_CALLS ?? 200);
  const baseUrl = process.env.LOAD_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const { phases, checked, problems } = await runLoad({ agents, calls, baseline: process.env.LOAD_BASELINE !== '0', baseUrl });
  const [base, two] = phases.length === 2 ? phases : [undefined, phases[0]!];
  const results: BenchResult[] = [];
  for (const k of KINDS) {
    for (const q of ['p50', 'p99'] as const) {
      results.push({ name: `${two.label}, ${LABEL[k]} ${q}`, value: two[q][k], unit: 'ms', baseline: base && { name: `${base.label} ${q}`, value: base[q][k], unit: 'ms' } });
    }
  }
  results.push(
    { name: `${two.label}, throughput (${two.agents} agents x ${calls} calls, ${two.calls} calls in ${two.seconds.toFixed(0)} s)`, value: two.perSecond, unit: 'calls/s', baseline: base && { name: `${base.label} throughput`, value: base.perSecond, unit: 'calls/s' } },
    { name: 'calls answered otherwise than policy says (all phases)', value: phases.reduce((s, p) => s + p.unexpected.length, 0), unit: 'calls', target: '0', goal: { max: 0 } },
    { name: `audit gaps (${checked.auditEntries} entries, ${checked.requests} requests)`, value: checked.auditGaps, unit: 'gaps', target: '0', goal: { max: 0 } },
    { name: 'countersign audit verify passes', value: checked.auditVerified ? 1 : 0, unit: 'yes=1', target: 'passes', goal: { min: 1 } },
    { name: 'duplicate executions (upstream or audit)', value: checked.duplicates, unit: 'writes', target: '0', goal: { max: 0 } },
    { name: `upstream effects minus succeeded write requests (${checked.upstreamEffects} effects, ${checked.succeededWrites} succeeded)`, value: checked.upstreamEffects - checked.succeededWrites, unit: 'writes', target: '0', goal: { min: 0, max: 0 } },
  );
  for (const p of problems) process.stderr.write(`bench/load: ${p}\n`);
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(2)} ${r.unit}${r.baseline ? ` (baseline ${r.baseline.name}: ${r.baseline.value.toFixed(2)})` : ''}${r.target ? ` target ${r.target}` : ''}`);
  process.exit(0);
}
