import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { freshBuild } from '../../scripts/sources.mjs';
import { freePort } from '../../test/support/harness.ts';
import { untilListening } from '../../test/support/server-process.ts';

/**
 * Countersign for the MCP bench as `countersign start` runs it: `bin/countersign.js start --isolation process|none`
 * on a fresh PostgreSQL database, built ahead of time (.build/cli, rebuilt here when a source is newer). It reaches
 * the bench upstream the way an operator would wire any MCP server: by configuration (`connectors.mcp.servers`, Streamable
 * HTTP), so in the process set the `mcp` executor holds the upstream client, and the built-in connectors' executors run
 * beside it on their sandboxes, as in any default start. The upstream's tools are offered as `bench_bench_read` and
 * `bench_bench_write` (impact from the config, intent from a descriptor); reads and writes auto-allowed.
 *
 * LOG_LEVEL=error, as the in-process variants log nothing: the request log line `countersign start` writes at its
 * default level (info) is not counted against either.
 * Its CPU and memory are read from outside, summed over every process of the set: the process `countersign start`
 * runs (the supervisor, under process isolation) and all its descendants, found through /proc/<pid>/stat; CPU is utime
 * + stime in clock ticks (`getconf CLK_TCK`), so each process's reading is good to one tick.
 */

export interface SetUsage {
  cpuMs: number;
  rss: number;
  /** Per process, by role (supervisor, kernel, edge, executor:NAME, or the command's name). */
  processes: { pid: number; role: string; cpuMs: number; rss: number }[];
}

export interface StartedSet {
  url: string;
  token: string;
  pid: number;
  usage(): Promise<SetUsage>;
  close(): Promise<void>;
}

const root = resolve(import.meta.dirname, '../..');
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime (ms), parent pid and name of a process, from /proc/<pid>/stat (fields after the parenthesized name). */
function stat(pid: number): { cpuMs: number; ppid: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
  } catch {
    return null;
  }
}

function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function roleOf(pid: number, top: number, isolation: string): string {
  if (pid === top) return isolation === 'process' ? 'supervisor' : 'countersign';
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const last = argv.at(-1) ?? '';
    if (last === 'kernel' || last === 'edge' || last.startsWith('executor:')) return last;
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'gone';
  }
}

/** `top` and every process below it. */
function descendants(top: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), Number(entry)]);
  }
  const found = [top];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]!) ?? []));
  return found;
}

/** The CLI built ahead of time, as `npm install` leaves it; rebuilt when a source changed since (bin/countersign.js would otherwise run tsx). */
function ensureBuilt(): void {
  if (freshBuild(root, join(root, '.build', 'cli'))) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-cli.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (!freshBuild(root, join(root, '.build', 'cli'))) throw new Error('the CLI build is not fresh after scripts/build-cli.mjs: the bench would measure tsx');
}

export async function startCountersign(upstreamUrl: string, isolation: 'process' | 'none', db: 'postgres' | 'pglite' = 'postgres'): Promise<StartedSet> {
  ensureBuilt();
  const home = mkdtempSync(join(tmpdir(), 'countersign-bench-start-'));
  const configPath = join(home, 'countersign.yaml');
  writeFileSync(join(home, 'bench.descriptor.yaml'), `tools:
  bench_read: { summary: "Read {key}", consequence: reads, reversible: true }
  bench_write: { summary: "Write {key}", consequence: writes, reversible: true }
`);
  writeFileSync(configPath, `holdSeconds: 25
rateLimit: { perMinute: 100000000 }
connectors:
  mcp:
    servers:
      bench:
        url: ${upstreamUrl}/mcp
        descriptor: ./bench.descriptor.yaml
        tools: { bench_read: { impact: read }, bench_write: { impact: write } }
policy:
  default: deny
  rules:
    - { id: bench-reads, tools: [bench_bench_read], decision: allow }
    - { id: bench-writes, tools: [bench_bench_write], decision: allow }
`);
  // PostgreSQL: a fresh database on BENCH_DATABASE_URL's server. PGlite: the embedded database in the home, as
  // `npm start` runs by default (no DATABASE_URL).
  const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `cs_bench_${randomBytes(6).toString('hex')}`;
  const admin = db === 'postgres' ? postgres(adminUrl, { max: 1, onnotice: () => {} }) : null;
  await admin?.unsafe(`create database ${name}`);
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${name}`;
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, COUNTERSIGN_HOME: home, COUNTERSIGN_CONFIG: configPath, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl.toString(), LOG_LEVEL: 'error' };
  for (const key of ['COUNTERSIGN_ISOLATION', 'COUNTERSIGN_PUBLIC_URL', 'COUNTERSIGN_FROM_SOURCE', 'NODE_OPTIONS', 'GITHUB_TOKEN', 'STRIPE_SECRET_KEY', ...(admin ? [] : ['DATABASE_URL'])]) delete env[key];
  const child: ChildProcess = spawn(process.execPath, [join(root, 'bin', 'countersign.js'), 'start', '--isolation', isolation], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const cleanup = async () => {
    await admin?.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin?.end();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    await untilListening(child, `countersign start --isolation ${isolation}`, 300);
  } catch (error) {
    child.kill('SIGKILL');
    await cleanup();
    throw error;
  }
  child.removeAllListeners('exit');
  // A bench that dies before close() (an error, a closed pipe) would leave the set running: it has no IPC link to us.
  const orphan = () => child.kill('SIGTERM');
  process.once('exit', orphan);
  // The agent is added as an operator would: the CLI, which hands the command to the running server.
  const added = JSON.parse(execFileSync(process.execPath, [join(root, 'bin', 'countersign.js'), 'agent', 'add', 'bench-agent', '--owner', 'bench@example.com', '--json'], { cwd: home, env, encoding: 'utf8' })) as { token: string };
  const top = child.pid!;
  return {
    url: `http://127.0.0.1:${port}`,
    token: added.token,
    pid: top,
    async usage() {
      const processes = descendants(top).map((pid) => ({ pid, role: roleOf(pid, top, isolation), cpuMs: stat(pid)?.cpuMs ?? 0, rss: rssOf(pid) }));
      return { cpuMs: processes.reduce((s, p) => s + p.cpuMs, 0), rss: processes.reduce((s, p) => s + p.rss, 0), processes };
    },
    async close() {
      process.off('exit', orphan);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM'); // the supervisor drains edge, executors, kernel in turn
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(timer);
      }
      await cleanup();
    },
  };
}
