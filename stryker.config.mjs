// Mutation testing of the trusted core: `npm run mutate` (see test/mutation/README.md).
// @ts-check
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // related: only the unit tests that import the mutated files run, in the initial run and for each mutant.
  // vmThreads: Vitest's threads and forks pools start a new worker for every run (every mutant), which then imports the
  // kernel again and loads PGlite again; a vm pool keeps its worker, so the kernel fixture keeps one migrated PGlite
  // and empties it per test file (test/support/db.ts: reusablePglite). Measured on decide.ts: README.md here.
  vitest: { configFile: 'test/mutation/vitest.config.ts', related: true, pool: 'vmThreads' },
  checkers: ['typescript'],
  // Type-check mutants against the mutated files and what they import only, not the whole repository's tests.
  tsconfigFile: 'test/mutation/tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: [
    'kernel/**/*.ts',
    'tools/host.ts',
    'approval-web/security.ts',
    'approval-web/hygiene.ts',
    'approval-web/hygiene/*.ts',
    'approval-web/devices/auth.ts',
    'approval-web/devices/pairing.ts',
  ],
  coverageAnalysis: 'perTest',
  // A mutant in module-level code (a constant table) is covered by every test that imports it, so each would rerun the
  // whole related suite: minutes apiece here. The tables that matter are asserted exactly instead (capabilities.test.ts).
  ignoreStatic: true,
  // Two cores shared with other work: one test process and one checker by default (`--concurrency` overrides).
  concurrency: 1,
  incremental: true,
  incrementalFile: 'test/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress-append-only', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  timeoutMS: 20000,
  // The initial run instruments and covers every related unit test; on a busy machine that takes minutes.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
