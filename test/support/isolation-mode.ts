/**
 * Which `--isolation` the test suite runs with: COUNTERSIGN_TEST_ISOLATION=process runs every test that starts
 * `countersign start` against the process set (kernel, executors, edge), and the in-process stacks (harness.ts,
 * kernel-fixture.ts, and createServices given `startExecutors(...).remote`) with each connector's executor in a child
 * process (executors.ts: the product's runExecutor, its channel and grant journal). `none` (the default here, faster to
 * start) runs one process; COUNTERSIGN_ISOLATION in the test's own environment is read the same way. The product's
 * default is `process`; CI runs the tests that cross the executor boundary in both modes (scripts/test.mjs). A test
 * that pins a mode itself (`--isolation process` in its arguments, or COUNTERSIGN_ISOLATION in the environment it
 * passes) keeps it: isolation and isolation-kills always run the process set.
 *
 * Integration files the mode does not change, because they never reach an executor: audit, audit-commands (a server
 * with no connectors), audit-processes, budget, database, evidence and grants (the kernel's stores on a database),
 * stripe-tools and stripe-upstream (a connector's tools called directly against its sandbox, below the executor
 * boundary, which the others test). In isolation-attacks the executor under attack is built on a socket pair by the
 * test itself, in either mode; recover-scope's connector-less command kernel has no executor to place.
 */
export function testIsolation(): 'none' | 'process' {
  const mode = process.env.COUNTERSIGN_TEST_ISOLATION || process.env.COUNTERSIGN_ISOLATION || 'none';
  if (mode !== 'none' && mode !== 'process') throw new Error(`COUNTERSIGN_TEST_ISOLATION must be none or process, got "${mode}"`);
  return mode;
}

/** `env` for a `countersign start` the suite spawns: its own COUNTERSIGN_ISOLATION if it names one, else the suite's. */
export function withTestIsolation(env: NodeJS.ProcessEnv, own?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, COUNTERSIGN_ISOLATION: own?.COUNTERSIGN_ISOLATION ?? testIsolation() };
}

/** Seconds to wait for a server to listen: the process set starts several Nodes at once and needs longer on 2 cores. */
export const startSeconds = (env: NodeJS.ProcessEnv, args: string[] = []) =>
  env.COUNTERSIGN_ISOLATION === 'process' || args.includes('process') ? 300 : 90;

/** A test's or hook's timeout for servers run in the suite's mode: the process set starts and stops slower. */
export const serverTimeout = (ms: number) => (testIsolation() === 'process' ? ms * 3 : ms);
