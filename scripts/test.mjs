#!/usr/bin/env node
// `npm test`: type check, unit tests, the fast part of the property/fuzz tests (`npm run fuzz` runs them long),
// integration tests on embedded PGlite and on PostgreSQL, browser end-to-end tests.
// PostgreSQL and Chromium are required in CI (CI=1) and used when present elsewhere; a newcomer without them gets the
// rest of the suite and a line saying what was skipped and how to run it. Any failing step fails the whole run.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const ci = Boolean(process.env.CI);
const pgUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// `--second-node` (.ci/run's pass on Node 24) keeps what can differ between Node versions: the unit and fuzz tests
// (the kernel on PGlite's WebAssembly, WebCrypto, the parsers) and the process pass: every test that starts
// `countersign start` as a process set (child processes, IPC channels, signals, HTTP, the README story) and the
// harness files whose executors run in child processes. It leaves out what would repeat the same JavaScript on
// another runtime at a cost of minutes: the PGlite and PostgreSQL integration passes (their server code is what the
// process pass runs) and the browser tests (Chromium does their work). The full suite on both Nodes took 41 minutes
// at stop 23, over the 30-minute budget.
const secondNode = process.argv.includes('--second-node');
const only = process.argv.slice(2).filter((a) => a !== '--second-node');
// The tests that start `countersign start` (the isolation tests always run the process set, and replica-processes needs
// PostgreSQL), and the README story as a newcomer runs it: `npm start` gives them the process set.
// Of the tests built on the in-process harness (test/support/harness.ts), whose executors COUNTERSIGN_TEST_ISOLATION=process
// puts in child processes (test/support/executors.ts), those that drive the executor boundary itself: execution at
// most once, grants and digests, reconcile after a lost answer or a crash, progress and tool-list changes, a downstream
// MCP connector's own executor. The other harness files (web, OAuth, access, SSRF, audit reader) pass in process
// mode too, but cross the boundary only as these do, and all of them would add minutes to each Node's pass.
const HARNESS_PROCESS = ['exactly-once', 'kernel-flow', 'mcp-downstream', 'mcp-stdio', 'read-grants', 'recover-scope', 'stripe-lost-answer'];
const PROCESS_PASS = [
  ...['cli-basics', 'crash-matrix', 'drain', 'limits', 'mcp-progress', 'operator', 'policy-explain-live', 'policy-reload', 'sandbox-state', 'stdio-restart'].map((name) => `test/integration/${name}.test.ts`),
  ...HARNESS_PROCESS.map((name) => `test/integration/${name}.test.ts`),
  ...(existsSync(chromium) ? ['test/e2e/readme-story.test.ts'] : []),
];
// Tests whose servers keep their state in their own embedded database whatever TEST_DATABASE_URL says (they start
// `countersign start` processes with a fresh home, or need no database): the PostgreSQL pass would only repeat them.
const SAME_ON_ANY_DATABASE = ['drain', 'isolation', 'isolation-kills', 'limits', 'mcp-progress', 'operator', 'policy-explain-live', 'policy-reload', 'sandbox-state', 'stdio-restart', 'stripe-tools', 'stripe-upstream'];

function reachable(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port || 5432) });
    socket.setTimeout(2000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

// Vitest's default is one worker per core less one: a single worker on a two-core machine. Unit and integration tests
// spend most of their time waiting (on PGlite, on PostgreSQL, on the server processes they start), so two workers
// use the second core: on the 2-core CI machine, idle, the PGlite integration pass took 186 s with two workers against
// 603 s with one (2026-11-28). Every test opens its own database (test/support/db.ts), so workers share nothing.
// TEST_WORKERS overrides it.
const workers = `--maxWorkers=${process.env.TEST_WORKERS ?? Math.max(2, availableParallelism() - 1)}`;

const steps = [
  { name: 'typecheck', cmd: ['npx', 'tsc', '--noEmit'], minutes: 5 },
  { name: 'unit', cmd: ['npx', 'vitest', 'run', '--project', 'unit', workers], minutes: 5 },
  // The fast part: each property a few hundred times, the server targets a few dozen (FUZZ_RUNS unset).
  { name: 'fuzz (fast)', cmd: ['npx', 'vitest', 'run', '--project', 'fuzz'], env: { FUZZ_RUNS: '' }, minutes: 5 },
  { name: 'integration (PGlite)', skip: secondNode, cmd: ['npx', 'vitest', 'run', '--project', 'integration', workers], env: { TEST_DATABASE_URL: '' } },
  {
    name: 'integration (PostgreSQL)',
    skip: secondNode,
    cmd: ['npx', 'vitest', 'run', '--project', 'integration', workers, ...SAME_ON_ANY_DATABASE.flatMap((name) => ['--exclude', `test/integration/${name}.test.ts`])],
    env: { TEST_DATABASE_URL: pgUrl },
    needs: async () => ((await reachable(pgUrl)) ? null : `PostgreSQL is not reachable at ${new URL(pgUrl).host} (set TEST_DATABASE_URL)`),
  },
  // `countersign start`'s default is --isolation process; the passes above run their server processes with
  // --isolation none (faster to start; test/support/isolation-mode.ts), except the isolation tests, which always run
  // the process set. This pass runs every other test that starts a server, and the README story, against the process
  // set too (it found a restart cancelling held approvals, and `policy explain` blind to live pins, both only there),
  // and the harness tests of HARNESS_PROCESS with their executors in child processes (they found /healthz showing a
  // downstream MCP server's state only as of its last tool change).
  {
    name: 'process isolation (server-process tests)',
    cmd: ['npx', 'vitest', 'run', '--project', 'integration', '--project', 'e2e', workers, ...PROCESS_PASS],
    env: { TEST_DATABASE_URL: '', COUNTERSIGN_TEST_ISOLATION: 'process' },
  },
  {
    name: 'e2e (Chromium)',
    skip: secondNode,
    cmd: ['npx', 'vitest', 'run', '--project', 'e2e'],
    needs: async () => (existsSync(chromium) ? null : `Chromium is not installed at ${chromium} (apt-get install chromium)`),
  },
];

/**
 * Runs one step in its own process group, so a step that overruns its time is stopped with every worker it started
 * (a worker spinning in a loop of bare awaits never lets its own test timeouts fire).
 */
function run(cmd, env, ms) {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env, detached: true });
    const stop = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop('SIGTERM');
      setTimeout(() => stop('SIGKILL'), 5000).unref();
    }, ms);
    const forward = () => stop('SIGTERM');
    process.once('SIGINT', forward).once('SIGTERM', forward);
    child.on('exit', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve(timedOut ? 'timeout' : (code ?? 1));
    });
  });
}

// Each vitest step also writes a JSON report, so a failed run can end with the names of the tests that failed and why:
// CI shows only the tail of its output, and a flaky test named nowhere in that tail cannot be found again.
const reports = mkdtempSync(join(tmpdir(), 'countersign-test-'));
const reportOf = (step) => join(reports, `${step.name.replace(/[^a-z0-9]+/gi, '-')}.json`);

/** What a failed step's JSON report says: each failed test (or file that could not run) and the first lines of its error. */
function failuresIn(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return ['  (no report: the step stopped before vitest wrote one; read its output above)'];
  }
  const first = (text) => String(text ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((line) => line.trim()).slice(0, 4).map((line) => `      ${line.trim().slice(0, 240)}`);
  const lines = [];
  for (const suite of report.testResults ?? []) {
    const file = relative(process.cwd(), suite.name);
    const tests = (suite.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of tests) lines.push(`  ✗ ${file} > ${test.fullName ?? test.title}`, ...first(test.failureMessages?.[0]));
    if (!tests.length && suite.status === 'failed') lines.push(`  ✗ ${file} (the file failed outside any test)`, ...first(suite.message));
  }
  return lines.length ? lines : ['  (every test passed: vitest itself failed; read its output above)'];
}

const failed = [];
for (const step of steps) {
  if (step.skip || (only.length && !only.some((o) => step.name.startsWith(o)))) continue;
  const missing = step.needs ? await step.needs() : null;
  if (missing) {
    if (ci) {
      console.error(`\n✗ ${step.name}: ${missing}`);
      failed.push({ ...step, why: missing });
    } else {
      console.log(`\n- ${step.name}: skipped: ${missing}`);
    }
    continue;
  }
  console.log(`\n▶ ${step.name}`);
  const env = { ...process.env, ...step.env };
  if (env.TEST_DATABASE_URL === '') delete env.TEST_DATABASE_URL;
  const started = Date.now();
  const vitest = step.cmd[1] === 'vitest';
  const cmd = vitest ? [...step.cmd, '--reporter=default', '--reporter=json', `--outputFile.json=${reportOf(step)}`] : step.cmd;
  const status = await run(cmd, env, (step.minutes ?? 20) * 60_000);
  const took = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  if (status === 'timeout') console.error(`\n✗ ${step.name}: still running after ${step.minutes ?? 20} minutes; stopped it (a test that never yields hangs its worker: look for the last file that did not report)`);
  console.log(`\n${status === 0 ? '✓' : '✗'} ${step.name} (${took})`);
  if (status !== 0) failed.push(step);
}
if (failed.length) {
  console.error('\nWhat failed:');
  for (const step of failed) console.error(`${step.name}:\n${(step.why ? [`  ${step.why}`] : step.cmd[1] === 'vitest' ? failuresIn(reportOf(step)) : ['  (read its output above)']).join('\n')}`);
  console.error(`\nFAILED: ${failed.map((step) => step.name).join(', ')}`);
  process.exit(1);
}
rmSync(reports, { recursive: true, force: true });
console.log('\nall test steps passed');
