import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './types.ts';

/**
 * Offline state commands (issue 14: "Offline CLI <= 1.5 s"): `countersign agent list` (and `audit verify`, `approver
 * grant`) run as a user runs them, `node bin/countersign.js ...` in a process of its own, while no server runs, so the
 * command opens the home's embedded PGlite database itself. Wall time from spawn to exit, runs interleaved with the
 * baselines so load hits all alike; the minimum is the figure judged (the machine is shared), the median is shown too.
 *
 * Baselines, each its own process on the same machine in the same run: `node -e 0` (Node's start and exit), and a
 * bare script that imports PGlite, opens the same data directory, runs `select 1` and closes it: the floor an
 * embedded-database command cannot go below.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = 7;

function wall(args: string[], env: NodeJS.ProcessEnv, cwd: string): number {
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (child.status !== 0) throw new Error(`${args.join(' ')} exited with ${child.status}: ${child.stderr || child.stdout}`);
  return ms / 1000;
}

const min = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (s: number) => Number(s.toFixed(3));

export async function run(): Promise<BenchResult[]> {
  // The ahead-of-time build is what an installed CLI runs; build it when a source is newer (bin/countersign.js would
  // otherwise fall back to compiling the sources, measured separately below).
  const { freshBuild } = await import('../scripts/sources.mjs');
  if (!freshBuild(root, join(root, '.build', 'cli'))) {
    const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs')], { cwd: root, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`building the CLI failed: ${built.stderr}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-cli-'));
  const home = join(dir, '.countersign');
  const env: NodeJS.ProcessEnv = { ...process.env, COUNTERSIGN_HOME: home };
  for (const key of ['DATABASE_URL', 'COUNTERSIGN_CONFIG', 'PORT', 'COUNTERSIGN_FROM_SOURCE']) delete env[key];
  const bin = join(root, 'bin', 'countersign.js');
  const pglite = new URL(import.meta.resolve('@electric-sql/pglite')).href;
  const bare = `const { PGlite } = await import(${JSON.stringify(pglite)}); const pg = new PGlite(${JSON.stringify(join(home, 'db', 'pgdata'))}); await pg.query('select 1'); await pg.close();`;
  try {
    // Not timed: the first command creates the database, the config and the keys.
    wall([bin, 'agent', 'add', 'bench-bot', '--owner', 'you@example.com'], env, dir);
    const times = { node: [] as number[], pglite: [] as number[], list: [] as number[], verify: [] as number[], grant: [] as number[], source: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      times.node.push(wall(['-e', '0'], env, dir));
      times.pglite.push(wall(['--input-type=module', '-e', bare], env, dir));
      times.list.push(wall([bin, 'agent', 'list'], env, dir));
      times.verify.push(wall([bin, 'audit', 'verify'], env, dir));
      times.grant.push(wall([bin, 'approver', i % 2 ? 'revoke' : 'grant', 'you@example.com', 'maintainers'], env, dir));
      if (i < 3) times.source.push(wall([bin, 'agent', 'list'], { ...env, COUNTERSIGN_FROM_SOURCE: '1' }, dir));
    }
    const floor = (pick: (xs: number[]) => number, what: string) => ({ name: `bare PGlite: import, open the same data dir, select 1, close (${what} of ${RUNS})`, value: round(pick(times.pglite)), unit: 's' });
    return [
      { name: `offline agent list, built CLI (min of ${RUNS})`, value: round(min(times.list)), unit: 's', baseline: floor(min, 'min'), target: '<= 1.5 s', goal: { max: 1.5 } },
      { name: `offline agent list, built CLI (median of ${RUNS})`, value: round(median(times.list)), unit: 's', baseline: floor(median, 'median') },
      { name: `offline audit verify, built CLI (min of ${RUNS})`, value: round(min(times.verify)), unit: 's', baseline: floor(min, 'min') },
      { name: `offline approver grant/revoke, built CLI (min of ${RUNS})`, value: round(min(times.grant)), unit: 's', baseline: floor(min, 'min') },
      { name: `bare PGlite open and close, own process (min of ${RUNS})`, value: round(min(times.pglite)), unit: 's', baseline: { name: `node -e 0 (min of ${RUNS})`, value: round(min(times.node)), unit: 's' } },
      {
        name: 'offline agent list from the sources (COUNTERSIGN_FROM_SOURCE=1, as after an edit or a pull without npm install; min of 3)',
        value: round(min(times.source)),
        unit: 's',
        baseline: { name: `offline agent list, built CLI (min of ${RUNS})`, value: round(min(times.list)), unit: 's' },
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly: npx tsx bench/cli.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const result of await run()) console.log(JSON.stringify(result));
}
