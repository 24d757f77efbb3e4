#!/usr/bin/env node
// `npm run mutate [-- STRYKER OPTIONS]`: mutation testing of the trusted core (stryker.config.mjs), then a summary in
// test/mutation/REPORT.md: score per file, every surviving mutant with its place and, where it is equivalent, the
// reason from test/mutation/equivalent.json. StrykerJS needs Node >= 22; on an older Node this runs it on the Node 24
// of the `node24` devDependency. Incremental: only mutants in code (or covered by tests) that changed are re-run.
//   npm run mutate                                  the whole scope, incrementally
//   npm run mutate -- --mutate kernel/decide.ts     one file (other files keep their results)
//   npm run mutate -- --mutate kernel/flow.ts:160-230 --force   re-test those lines only (the file's others are kept)
//   npm run mutate -- --force                       ignore the incremental file, test every mutant again
//   npm run mutate -- --since main                  only the files in scope that changed since main (a branch's files)
//   node scripts/mutate.mjs --report-only           rewrite REPORT.md from the last JSON report
//   node scripts/mutate.mjs --ci                    CI (.ci/run): the gate below, then the last commit's files, time-capped
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ciFailures, hasRuntimeCode, scopeFiles, staleFiles } from './mutation-ci.mjs';

const root = resolve(import.meta.dirname, '..');
const { default: config } = await import(join(root, 'stryker.config.mjs'));
const incremental = join(root, 'test/mutation/stryker-incremental.json');
// --ci (.ci/run), in three steps (test/mutation/README.md, "Cost and CI"):
//  1. every file in scope has committed results for its current source, and kernel/ scores at least 90% on them;
//     otherwise fail at once, naming the files and the command that records them (CI cannot commit results for you);
//  2. the files in scope the last commit changed (MUTATE_CI_SINCE, default HEAD~1) run incrementally, which re-tests the
//     mutants whose code or covering tests changed, capped at MUTATE_CI_MINUTES (default 10): past it Stryker is
//     interrupted, keeps what it finished, and the step fails;
//  3. the same gate again on the results of that run.
const ci = process.argv.includes('--ci');
const ciMinutes = Number(process.env.MUTATE_CI_MINUTES ?? 10);
let timedOut = false;
let argv = process.argv.slice(2).filter((a) => a !== '--ci');
if (ci) {
  const before = await writeReport();
  const failures = ciFailures({ kernel: before.kernel, stale: before.notRun, timedOut: false, minutes: ciMinutes });
  if (failures.length) gateFailed(failures);
  const since = process.env.MUTATE_CI_SINCE ?? 'HEAD~1';
  if (spawnSync('git', ['rev-parse', '--verify', '--quiet', `${since}^{commit}`], { cwd: root }).status !== 0) {
    gateFailed([`${since} is not a commit here (a shallow clone?): fetch more history or set MUTATE_CI_SINCE to the commit this change starts from`]);
  }
  argv = [...argv, '--since', since];
}
// null: --since found no file in scope that changed, so nothing to run (in CI the gate above already passed).
const scoped = sinceToMutate(argv);
if (scoped === null && !ci) process.exit(0);
const args = scoped && withTests(scoped);

if (args && !args.includes('--report-only')) {
  // Stryker rewrites the whole incremental file; keepOthers puts back the other files' own results (a scoped run then
  // adds to the record instead of replacing it). A file whose source changed since is kept as recorded: its next run
  // diffs against it and re-tests only the mutants in changed code (the report leaves it out until then).
  const previous = existsSync(incremental) ? JSON.parse(readFileSync(incremental, 'utf8')) : null;
  const major = Number(process.versions.node.split('.')[0]);
  const node = major >= 22 ? process.execPath : join(root, 'node_modules/node24/bin/node');
  if (!existsSync(node)) {
    console.error(`StrykerJS needs Node >= 22 and this is ${process.version}; run npm install (it brings the node24 devDependency) or use Node 22+`);
    process.exit(2);
  }
  const stryker = join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js');
  // Integration test files named in tests.json join the unit project only when a scoped run asks for them.
  const integration = args.join(' ').includes('test/integration/') ? { MUTATE_INTEGRATION: '1' } : {};
  // In CI, Ctrl-C at the time limit: Stryker records the mutants it finished, and the verdict below says it was cut.
  const limit = ci ? { timeout: Math.round(ciMinutes * 60_000), killSignal: 'SIGINT' } : {};
  const run = spawnSync(node, [stryker, 'run', ...args], { cwd: root, stdio: 'inherit', env: { ...process.env, ...integration }, ...limit });
  keepOthers(previous, args); // also after an interrupted run: Stryker records the mutants it finished
  timedOut = run.error?.code === 'ETIMEDOUT';
  if (run.status !== 0 && !timedOut) process.exit(run.status ?? 1);
}
const { kernel, notRun } = await writeReport();
if (ci) {
  const failures = ciFailures({ kernel, stale: notRun, timedOut, minutes: ciMinutes });
  if (failures.length) gateFailed(failures);
  console.log('mutation testing: every file in scope has results for its current source; kernel/ score at or above the threshold');
}

function gateFailed(failures) {
  for (const failure of failures) console.error(`mutation testing: FAIL: ${failure}`);
  process.exit(1);
}

/**
 * `--since <ref>`: mutate only the files in scope that differ from <ref> (committed or not), e.g. a branch's changes
 * against main; with none, there is nothing to run. The other files keep their recorded results (keepOthers).
 */
function sinceToMutate(argv) {
  const at = argv.indexOf('--since');
  if (at < 0) return argv;
  const ref = argv[at + 1];
  if (!ref || ref.startsWith('-')) {
    console.error('--since needs a git ref, e.g. npm run mutate -- --since main');
    process.exit(2);
  }
  const diff = spawnSync('git', ['diff', '--name-only', ref, '--'], { cwd: root, encoding: 'utf8' });
  if (diff.status !== 0) {
    console.error(`git diff ${ref} failed: ${diff.stderr.trim()}; pass a branch, tag or commit that exists here`);
    process.exit(2);
  }
  const changed = scopeFiles(config.mutate, diff.stdout.split('\n').filter(Boolean)).filter((f) => existsSync(join(root, f)) && mutable(join(root, f)));
  if (changed.length === 0) {
    console.log(`no file in the mutation scope changed since ${ref}; nothing to run`);
    return null;
  }
  console.log(`mutating the ${changed.length} file(s) in scope changed since ${ref}: ${changed.join(', ')}`);
  return [...argv.slice(0, at), ...argv.slice(at + 2), '--mutate', changed.join(',')];
}

/**
 * A scoped run (`--mutate a.ts,b.ts`) whose files all have an entry in test/mutation/tests.json runs only those tests
 * (Stryker's --testFiles): its initial run then starts a few test files instead of every unit test related to the
 * kernel, and each mutant still runs only the tests that cover it. An explicit --testFiles wins; a file with no entry
 * keeps the related unit tests.
 */
function withTests(argv) {
  const at = argv.indexOf('--mutate');
  if (at < 0 || argv.includes('--testFiles') || argv.includes('-t')) return argv;
  const map = JSON.parse(readFileSync(join(root, 'test/mutation/tests.json'), 'utf8'));
  const files = (argv[at + 1] ?? '').split(',').map((f) => f.replace(/:.*$/, ''));
  if (!files.every((f) => Array.isArray(map[f]))) return argv;
  const tests = [...new Set(files.flatMap((f) => map[f]))];
  console.log(`running only the tests that cover them (test/mutation/tests.json): ${tests.join(', ')}`);
  return [...argv, '--testFiles', tests.join(',')];
}

/**
 * Puts back what Stryker's rewrite of the incremental file dropped: the other files' results, and for a file run on
 * line ranges only (`--mutate kernel/flow.ts:160-230`, e.g. with --force to re-test a file's survivors) its mutants
 * outside those ranges, when its source is the one they were recorded for.
 */
function keepOthers(previous, args) {
  if (!previous || !existsSync(incremental)) return;
  const current = JSON.parse(readFileSync(incremental, 'utf8'));
  // The files this run mutated (null: the whole scope), and the line ranges of those run on ranges only. Stryker also
  // rewrites the other files' records, with their current source under their old statuses, which would pass a changed
  // file's stale results for fresh ones: those get their own record back.
  const scope = args.includes('--mutate') ? new Set() : null;
  const ranges = new Map();
  for (const entry of scope ? args[args.indexOf('--mutate') + 1].split(',') : []) {
    const [, file, from, to] = /^(.+):(\d+)(?::\d+)?-(\d+)(?::\d+)?$/.exec(entry) ?? [];
    scope.add(file ?? entry.replace(/:.*$/, ''));
    if (file) ranges.set(file, [...(ranges.get(file) ?? []), [Number(from), Number(to)]]);
  }
  let kept = 0;
  for (const [file, result] of Object.entries(previous.files)) {
    if (!existsSync(join(root, file))) continue;
    const now = current.files[file];
    if (!now || (scope && !scope.has(file))) {
      current.files[file] = result;
      kept++;
    } else if (ranges.has(file) && now.source === result.source) {
      const outside = (m) => ranges.get(file).every(([from, to]) => m.location.start.line < from || m.location.start.line > to);
      // Stryker numbers mutants afresh each run and re-emits the file's reused ones too: a mutant is the same by its
      // place, mutator and replacement, not by id.
      const seen = new Set(now.mutants.map(mutantKey));
      now.mutants.push(...result.mutants.filter((m) => outside(m) && !seen.has(mutantKey(m))));
      kept++;
    }
  }
  for (const [file, result] of Object.entries(previous.testFiles ?? {})) current.testFiles[file] ??= result;
  if (kept) writeFileSync(incremental, JSON.stringify(current));
}

/** A mutant's identity across runs: where it is, and what it changes there. */
function mutantKey(m) {
  return JSON.stringify([m.location.start, m.location.end, m.mutatorName, m.replacement ?? null]);
}

/** Type-only files (interfaces, types) give Stryker nothing to mutate, so they need no results. */
function mutable(path) {
  return hasRuntimeCode(readFileSync(path, 'utf8'));
}

async function writeReport() {
  // The incremental file holds every file's latest results (this run's and the kept ones), so the report covers the scope.
  if (!existsSync(incremental)) throw new Error(`no mutation results at ${incremental}: run npm run mutate first`);
  const report = JSON.parse(readFileSync(incremental, 'utf8'));
  const reasons = JSON.parse(readFileSync(join(root, 'test/mutation/equivalent.json'), 'utf8'));
  const counts = { killed: 0, survived: 0, equivalent: 0, noCoverage: 0, timeout: 0, compileError: 0, ignored: 0 };
  const kernel = { killed: 0, survived: 0, noCoverage: 0 };
  const rows = [];
  const survivors = [];
  const stale = Object.keys(report.files).filter((f) => !existsSync(join(root, f)) || readFileSync(join(root, f), 'utf8') !== report.files[f].source).sort();
  for (const [file, { source, mutants }] of Object.entries(report.files).filter(([f]) => !stale.includes(f)).sort()) {
    const lines = source.split('\n');
    const c = { killed: 0, survived: 0, equivalent: 0, noCoverage: 0 };
    for (const m of mutants) {
      const where = `${file}:${m.location.start.line}`;
      const code = lines[m.location.start.line - 1]?.trim().slice(0, 90) ?? '';
      const key = `${file}:${m.mutatorName}:${code}`;
      if (m.status === 'Killed' || m.status === 'Timeout') c.killed++;
      else if (m.status === 'CompileError' || m.status === 'RuntimeError') counts.compileError++;
      else if (m.status === 'Ignored') counts.ignored++;
      else if (reasons[key]) (c.equivalent++, survivors.push(`| ${where} | ${m.mutatorName} | equivalent: ${reasons[key]} |`));
      else if (m.status === 'NoCoverage') (c.noCoverage++, survivors.push(`| ${where} | ${m.mutatorName} | **no test covers it** (\`${key}\`) |`));
      else (c.survived++, survivors.push(`| ${where} | ${m.mutatorName} | **survived** (\`${key}\`) |`));
    }
    const valid = c.killed + c.survived + c.noCoverage;
    rows.push(`| ${file} | ${c.killed} | ${c.survived} | ${c.noCoverage} | ${c.equivalent} | ${valid ? ((100 * c.killed) / valid).toFixed(1) : '-'}% |`);
    for (const k of Object.keys(c)) counts[k] += c[k];
    if (file.startsWith('kernel/')) for (const k of Object.keys(kernel)) kernel[k] += c[k];
  }
  const kernelValid = kernel.killed + kernel.survived + kernel.noCoverage;
  // Every file kernel/ holds and the scope's globs name (the folders they start from, listed).
  const folders = new Set(['kernel', ...config.mutate.map((glob) => glob.split('/')[0])]);
  const inScope = scopeFiles(config.mutate, [...folders].flatMap((d) => readdirSync(join(root, d), { recursive: true }).map((f) => `${d}/${f.replaceAll('\\', '/')}`)));
  const notRun = staleFiles(inScope.filter((f) => mutable(join(root, f))), report.files, (f) => readFileSync(join(root, f), 'utf8'));
  const valid = counts.killed + counts.survived + counts.noCoverage;
  const score = valid ? ((100 * counts.killed) / valid).toFixed(1) : '-';
  const text = [
    '# Mutation report (generated by `npm run mutate`; do not edit by hand)',
    '',
    `Date ${new Date().toISOString()}, machine ${hostname()} (${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}), StrykerJS with the unit tests only.`,
    `Score ${score}% over ${valid} mutants that are not equivalent: ${counts.killed} killed, ${counts.survived} survived, ${counts.noCoverage} not covered; ` +
      `${counts.equivalent} equivalent (reasons below), ${counts.compileError} refused by the type checker, ${counts.ignored} ignored (static: module-level code).`,
    `kernel/ alone: ${kernelValid ? ((100 * kernel.killed) / kernelValid).toFixed(1) : '-'}% (${kernel.killed} of ${kernelValid}).`,
    '',
    notRun.length ? `Not run yet, or changed since their results (not counted here): ${notRun.map((f) => `\`${f}\``).join(', ')}.` : 'Every file in scope has results.',
    '',
    'Rerun: `npm run mutate` (incremental: only mutants in changed code or covered by changed tests), `npm run mutate -- --mutate kernel/x.ts` ' +
      'for one file (other files keep their results), `npm run mutate -- --force` for everything; see README.md here.',
    '',
    '| file | killed | survived | no coverage | equivalent | score |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Surviving mutants',
    '',
    '| where | mutator | status or reason |',
    '|---|---|---|',
    ...survivors,
    '',
  ].join('\n');
  writeFileSync(join(root, 'test/mutation/REPORT.md'), text);
  console.log(`mutation score ${score}% (${counts.killed}/${valid}); test/mutation/REPORT.md written`);
  return { kernel, notRun };
}
