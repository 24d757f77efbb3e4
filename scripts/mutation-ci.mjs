// What `node scripts/mutate.mjs --ci` decides, apart from running Stryker: kept here as plain functions so that a unit
// test (test/unit/mutation-ci.test.ts) fails when the gate stops failing.

/** The kernel's mutation score CI requires (issue 19: at least 90% from the unit tests alone). */
export const KERNEL_THRESHOLD = 90;

/**
 * Files in scope whose recorded results do not belong to their current source: never run, or changed since.
 * `record` is the incremental file's `files`; `source(file)` reads a file as it is now (null when it is gone).
 */
export function staleFiles(inScope, record, source) {
  return inScope.filter((file) => record[file]?.source !== source(file)).sort();
}

/**
 * The CI verdict after the run: the reasons to fail (none: pass). `kernel` counts killed, survived and not-covered
 * mutants over kernel/; `stale` is what still has no results for its current source; `timedOut` says the run was cut.
 */
export function ciFailures({ kernel, stale, timedOut, minutes }) {
  const failures = [];
  if (timedOut) {
    failures.push(`mutation testing did not finish within ${minutes} minutes (MUTATE_CI_MINUTES): the committed results are far behind the code. ` +
      'Run `npm run mutate` locally (it resumes where this stopped only on the same machine) and commit test/mutation/stryker-incremental.json and REPORT.md.');
  }
  if (stale.length) failures.push(`no mutation results for the current source of: ${stale.join(', ')}. Run \`npm run mutate -- --mutate ${stale.join(',')}\` and commit the results.`);
  const valid = kernel.killed + kernel.survived + kernel.noCoverage;
  const score = valid ? (100 * kernel.killed) / valid : 0;
  if (score < KERNEL_THRESHOLD) {
    failures.push(`kernel/ mutation score ${score.toFixed(1)}% (${kernel.killed} of ${valid} killed) is below ${KERNEL_THRESHOLD}%: ` +
      'kill the survivors listed in test/mutation/REPORT.md with tests, or list the equivalent ones in test/mutation/equivalent.json with a reason.');
  }
  return failures;
}
