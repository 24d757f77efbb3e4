// `npm run bench [name...]`: runs every bench/<name>.ts that exports run(), prints the results and writes
// bench/RESULTS.md with the machine, the date and each measurement's ratio to the baseline measured in the same process.
import { readdirSync, writeFileSync } from 'node:fs';
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
const sections: string[] = [];
let failures = 0;

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3);
}

for (const file of files) {
  const mod = (await import(join(here, file))) as { run?: () => Promise<BenchResult[]> };
  if (typeof mod.run !== 'function') continue;
  const name = file.replace(/\.ts$/, '');
  process.stdout.write(`\n== ${name} (load ${loadavg()[0].toFixed(2)})\n`);
  let results: BenchResult[];
  try {
    results = await mod.run();
  } catch (error) {
    failures++;
    process.stdout.write(`   failed: ${(error as Error).message}\n`);
    sections.push(`### ${name}\n\nfailed: ${(error as Error).message}\n`);
    continue;
  }
  const rows = results.map((r) => {
    const ratio = r.baseline && r.baseline.value !== 0 ? `${(r.value / r.baseline.value).toFixed(2)}x` : '';
    const baseline = r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '';
    process.stdout.write(`   ${r.name}: ${fmt(r.value)} ${r.unit}${baseline ? ` (baseline ${baseline}, ratio ${ratio})` : ''}${r.target ? ` [target ${r.target}]` : ''}\n`);
    return `| ${r.name} | ${fmt(r.value)} ${r.unit} | ${baseline} | ${ratio} | ${r.target ?? ''} |`;
  });
  sections.push(`### ${name}\n\n| measurement | value | baseline (same process) | ratio | target |\n|---|---|---|---|---|\n${rows.join('\n')}\n`);
}

const report = `# Benchmark results

Written by \`npm run bench\`. Each value is compared with a baseline measured in the same process, on the same machine.

- Date: ${started.toISOString()}
- Machine: ${machine}
- Load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}

${sections.join('\n')}`;
if (wanted.length === 0) writeFileSync(join(here, 'RESULTS.md'), report);
else process.stdout.write(`\n(partial run: bench/RESULTS.md not rewritten)\n`);
process.exitCode = failures ? 1 : 0;
