// `npm run bench [name...]`: runs every bench/<name>.ts that exports run() (or only those named), prints the results and
// writes bench/RESULTS.md: machine, date and load, each measurement against its same-run baseline, met or missed against
// its target, and bench/NOTES.md below.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const NOT_BENCHES = new Set(['run.ts', 'types.ts']);
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !NOT_BENCHES.has(f) && !f.startsWith('seed'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort();

const machine = `${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()} ${release()}, node ${process.version}`;
const started = new Date();
const startLoad = loadavg();
/** Each bench's section of RESULTS.md, by bench name. */
const sections = new Map<string, string>();
let failures = 0;

/** met or missed against the result's goal; a target with no numeric goal can only be judged by reading it. */
function judge(r: BenchResult): string {
  if (!r.goal) return 'not judged';
  const ok = (r.goal.min === undefined || r.value >= r.goal.min) && (r.goal.max === undefined || r.value <= r.goal.max);
  return ok ? 'met' : 'missed';
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3);
}

const RESULTS_LINE = 'countersign-bench-results ';

// `--one FILE`: this process is the child that runs one bench and hands its results back on one line.
if (process.argv[2] === '--one') {
  const mod = (await import(join(here, process.argv[3]!))) as { run: () => Promise<BenchResult[]> };
  // Exits once the line is written (writes to a pipe are asynchronous): a bench may leave timers or pools open. Exits
  // here, before the code below: the child went on to rewrite RESULTS.md while the parent, handed the line, read and
  // wrote it too, and a partial run (`npm run bench cli`) lost every other bench's section to the race.
  const line = `\n${RESULTS_LINE}${JSON.stringify(await mod.run())}\n`;
  await new Promise<void>((written) => process.stdout.write(line, () => written()));
  process.exit(0);
}

/**
 * Each bench runs in a process of its own: one bench's leftovers (a heap of a million rows, database pools, timers)
 * would tax the next. Measured on 2026-11-28: the process hop took 0.275 ms after the audit bench in one process and
 * 0.087 ms alone; offline verification of the 1M bundle 8.75 s after the append runs and 3.9 s alone.
 */
function runAlone(file: string): Promise<BenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) if (!line.startsWith(RESULTS_LINE)) process.stdout.write(`${line}\n`);
      for (const line of lines) if (line.startsWith(RESULTS_LINE)) resolve(JSON.parse(line.slice(RESULTS_LINE.length)) as BenchResult[]);
    });
    child.on('exit', (code) => reject(new Error(`bench ${file} exited with ${code} before reporting its results`)));
  });
}

for (const file of files) {
  const mod = (await import(join(here, file))) as { run?: () => Promise<BenchResult[]> };
  if (typeof mod.run !== 'function') continue;
  const name = file.replace(/\.ts$/, '');
  const load = loadavg()[0].toFixed(2);
  process.stdout.write(`\n== ${name} (load ${load})\n`);
  let results: BenchResult[];
  try {
    results = await runAlone(file);
  } catch (error) {
    failures++;
    process.stdout.write(`   failed: ${(error as Error).message}\n`);
    sections.set(name, `### ${name}\n\nRun ${new Date().toISOString()}: failed: ${(error as Error).message}\n`);
    continue;
  }
  const rows = results.map((r) => {
    // A ratio means something only between two values in the same unit (ms over ms, calls/s over calls/s).
    const ratio = r.baseline && r.baseline.unit === r.unit && r.baseline.value !== 0 ? `${(r.value / r.baseline.value).toFixed(2)}x` : '';
    const baseline = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)} ${r.baseline.unit}` : '';
    const verdict = judge(r);
    process.stdout.write(`   ${r.name}: ${fmt(r.value)} ${r.unit}${baseline ? ` (baseline ${baseline}${ratio ? `, ratio ${ratio}` : ''})` : ''}${r.target ? ` [target ${r.target}: ${verdict}]` : ''}\n`);
    return `| ${r.name} | ${fmt(r.value)} ${r.unit} | ${baseline} | ${ratio} | ${r.target ?? ''} | ${r.target ? verdict : ''} |`;
  });
  const when = `Finished ${new Date().toISOString()} on ${machine}, load average ${load} when it started.`;
  sections.set(name, `### ${name}\n\n${when}\n\n| measurement | value | baseline (same run) | ratio | target | met? |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
}

/** Hand-written notes (what was measured how, where the time goes) kept below the generated tables. */
function notes(): string {
  try {
    return `\n${readFileSync(join(here, 'NOTES.md'), 'utf8')}`;
  } catch {
    return '';
  }
}

/** A partial run (`npm run bench mcp`) replaces only its benches' sections; the others stay as they were, with their dates. */
const resultsPath = join(here, 'RESULTS.md');
if (wanted.length > 0) {
  let previous = '';
  try {
    previous = readFileSync(resultsPath, 'utf8');
  } catch {
    // No earlier results: the partial run's sections are all there is.
  }
  const body = previous.split(/^## /m)[0] ?? '';
  for (const part of body.split(/^(?=### )/m).slice(1)) {
    const name = /^### (\S+)/.exec(part)?.[1];
    // Sections from before per-section dates get the date of the run that wrote them.
    const dated = /^(Run|Finished) /m.test(part) ? part : part.replace(/\n\n/, `\n\nRun ${/^- (?:Date|Last run): (\S+)/m.exec(body)?.[1] ?? 'at an unknown date'} (earlier format: targets not judged).\n\n`);
    if (name && !sections.has(name)) sections.set(name, dated.trimEnd() + '\n');
  }
}
const ordered = [...sections.keys()].sort().map((name) => sections.get(name)!);
const count = (section: string, verdict: string) => section.split('\n').filter((line) => line.endsWith(`| ${verdict} |`)).length;
const summary = [...sections.keys()].sort().map((name) => `| ${name} | ${count(sections.get(name)!, 'met')} | ${count(sections.get(name)!, 'missed')} |`);

const report = `# Benchmark results

Written by \`npm run bench\`. Each value is compared with a baseline measured in the same run, on the same machine;
a ratio is given only where the two share a unit. Each target says whether this run met or missed it.

- Last run: ${started.toISOString()}${wanted.length ? ` (only ${wanted.join(', ')}; each section gives its own date)` : ''}
- Machine: ${machine}
- Load average (1, 5, 15 min) at its start: ${startLoad.map((l) => l.toFixed(2)).join(' ')} (at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')})

| bench | targets met | targets missed |
|---|---|---|
${summary.join('\n')}

${ordered.join('\n')}${notes()}`;
writeFileSync(resultsPath, report);
process.exitCode = failures ? 1 : 0;
