/**
 * Which `--isolation` the test suite's real servers run with: COUNTERSIGN_TEST_ISOLATION=process runs every test that
 * starts `countersign start` against the process set (kernel, executors, edge), `none` (the default here, faster to
 * start) against one process; COUNTERSIGN_ISOLATION in the test's own environment is read the same way. The product's default is `process`; CI runs the server-process tests in both modes
 * (scripts/test.mjs). A test that pins a mode itself (`--isolation process` in its arguments, or COUNTERSIGN_ISOLATION in
 * the environment it passes) keeps it.
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
