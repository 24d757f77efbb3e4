import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './harness.ts';
import { startSeconds, withTestIsolation } from './isolation-mode.ts';

/**
 * A real `countersign start` in its own process (embedded PGlite in a temporary home), for tests that measure the
 * server from outside: memory under a flood, crashes under fuzzing. `rssBytes` reads the kernel's own account of the
 * process (/proc/PID/status, Linux).
 */

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  home: string;
  rssBytes(): number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  alive(): boolean;
  /** SIGKILL, as a crash or the OOM killer would: no shutdown code runs. Resolves once the process is gone. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

const root = resolve(import.meta.dirname, '../..');

/**
 * `home` and `port` restart a server where an earlier one left off (its database, keys and URL); a home given by the
 * caller is the caller's to remove. `node` is the Node binary to run it with (default this one), e.g. a link the test
 * can remove while it runs.
 */
export async function startServerProcess(options: { config?: string; env?: Record<string, string>; home?: string; port?: number; args?: string[]; startSeconds?: number; node?: string } = {}): Promise<ServerProcess> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'countersign-proc-'));
  let port = options.port ?? (await freePort());
  if (options.config) writeFileSync(join(home, 'countersign.yaml'), options.config);
  const env: NodeJS.ProcessEnv = withTestIsolation({ ...process.env, COUNTERSIGN_HOME: home, PORT: String(port), HOST: '127.0.0.1', ...options.env }, options.env);
  // Without a config the server writes its example as ./countersign.yaml in its working directory (the home), as on
  // a newcomer's first start; an explicit COUNTERSIGN_CONFIG must name a file that exists.
  if (options.config || existsSync(join(home, 'countersign.yaml'))) env.COUNTERSIGN_CONFIG = join(home, 'countersign.yaml');
  else delete env.COUNTERSIGN_CONFIG;
  // Embedded PGlite in the home unless the caller names a database (replicas share one PostgreSQL).
  if (!options.env?.DATABASE_URL) delete env.DATABASE_URL;
  if (!options.env?.COUNTERSIGN_PUBLIC_URL) delete env.COUNTERSIGN_PUBLIC_URL;
  const seconds = options.startSeconds ?? startSeconds(env, options.args);
  let child: ChildProcess;
  let output: Awaited<ReturnType<typeof untilListening>>;
  for (let attempt = 1; ; attempt++) {
    child = spawn(options.node ?? process.execPath, [join(root, 'bin/countersign.js'), 'start', ...(options.args ?? [])], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const started = child;
    try {
      output = await untilListening(started, 'countersign start', seconds, () => started.kill('SIGTERM')); // it drains what it started
      break;
    } catch (error) {
      // freePort's port was free when asked; another process (a parallel worker, another suite) may have taken it
      // before the server bound it. A port the caller chose is kept: a restart must come back at the same URL.
      if (options.port !== undefined || attempt === 3 || !/is already in use/.test((error as Error).message)) throw error;
      env.PORT = String((port = await freePort()));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    home,
    rssBytes() {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      return Number(kb) * 1024;
    },
    stderr: output.stderr,
    stdout: output.stdout,
    alive: () => child.exitCode === null && child.signalCode === null,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        // The process set drains edge, executors and kernel in turn: give it its supervisor's own grace.
        const grace = env.COUNTERSIGN_ISOLATION === 'process' || options.args?.includes('process') ? 60_000 : 10_000;
        await Promise.race([exited, new Promise((ok) => setTimeout(ok, grace))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      if (!options.home) rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Collects a starting `countersign start` child's output and resolves, with getters for it, once the child says it
 * listens; rejects with that output if the child exits first or takes longer than `seconds` (after `onTimeout`).
 */
export async function untilListening(child: ChildProcess, what: string, seconds: number, onTimeout?: () => void): Promise<{ stdout(): string; stderr(): string }> {
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      fail(new Error(`${what} did not listen within ${seconds} s:\n${out}\n${err}`));
    }, seconds * 1000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Countersign listening on')) {
        clearTimeout(timer);
        ok();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited with ${code}:\n${out}\n${err}`));
    });
  });
  return { stdout: () => out, stderr: () => err };
}
