// What `node scripts/mutate.mjs --ci` decides, apart from running Stryker: kept here as plain functions so that a unit
// test (test/unit/mutation-ci.test.ts) fails when the gate stops failing.
import ts from 'typescript';

/** The kernel's mutation score CI requires (issue 19: at least 90% from the unit tests alone). */
export const KERNEL_THRESHOLD = 90;

/**
 * The files in scope: every file under kernel/ and the files stryker.config.mjs's `mutate` globs name. `files` is
 * every path of the repository (relative, `/`-separated); globs know `**` (any folders, or none) and `*` (within one name).
 */
export function scopeFiles(globs, files) {
  const patterns = globs.map((glob) => new RegExp(`^${glob.replaceAll('.', '\\.').split('**/').map((part) => part.replaceAll('*', '[^/]*')).join('(?:.*/)?')}$`));
  return files.filter((f) => f.endsWith('.ts') && (f.startsWith('kernel/') || patterns.some((re) => re.test(f)))).sort();
}

/**
 * Whether a file needs mutation results: judged on the JavaScript TypeScript emits (no types, no comments), it holds a
 * function or a statement a mutant could change. A file of interfaces and types, of re-exports, or of constant tables
 * alone (module-level code: Stryker's static mutants, ignored here) has none (connector.ts, capabilities.ts).
 */
export function hasRuntimeCode(source) {
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ESNext, removeComments: true } });
  // Arrows are left out on purpose: kernel/store/schema.ts's table callbacks run at import (static). A file made only of
  // expression-bodied arrows would pass unasked; none is in scope.
  return /\b(function|if|return|switch|throw|class)\b/.test(outputText);
}

/**
 * Files in scope whose recorded results do not belong to their current source: never run, or changed since.
 * `record` is the incremental file's `files`; `source(file)` reads a file as it is now (null when it is gone).
 */
export function staleFiles(inScope, record, source) {
  return inScope.filter((file) => record[file]?.source !== source(file)).sort();
}

/** The command that records results for `files`: what a failing CI step tells the author to run and commit. */
export const mutateCommand = (files) => `npm run mutate -- --mutate ${files.join(',')}`;

/**
 * The CI verdict: the reasons to fail (none: pass). `kernel` counts killed, survived and not-covered mutants over
 * kernel/; `stale` is what has no committed results for its current source; `timedOut` says the run was cut.
 */
export function ciFailures({ kernel, stale, timedOut, minutes }) {
  const failures = [];
  if (timedOut) {
    failures.push(`mutation testing of the files the last commit changed did not finish within ${minutes} minutes (MUTATE_CI_MINUTES): ` +
      'the committed results are behind the code or its tests. Run `npm run mutate -- --since HEAD~1` locally and commit ' +
      'test/mutation/stryker-incremental.json and REPORT.md.');
  }
  if (stale.length) {
    failures.push(`trusted code changed without mutation testing: no committed results for the current source of ${stale.join(', ')}. ` +
      `Run \`${mutateCommand(stale)}\` and commit test/mutation/stryker-incremental.json and REPORT.md.`);
  }
  const valid = kernel.killed + kernel.survived + kernel.noCoverage;
  const score = valid ? (100 * kernel.killed) / valid : 0;
  if (score < KERNEL_THRESHOLD) {
    failures.push(`kernel/ mutation score ${score.toFixed(1)}% (${kernel.killed} of ${valid} killed) is below ${KERNEL_THRESHOLD}%: ` +
      'kill the survivors listed in test/mutation/REPORT.md with tests, or list the equivalent ones in test/mutation/equivalent.json with a reason.');
  }
  return failures;
}
