import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { startSeconds, withTestIsolation } from './isolation-mode.ts';

/**
 * The real CLI as separate processes, the way a person runs it: `countersign start` as a long-lived server that can be
 * stopped and started again, and one-shot commands. Output is collected so a failing test shows what the user saw.
 */

export const BIN = resolve('bin/countersign.js');

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM to its process group, then waits until every process of the group has exited (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

/**
 * Starts `command` (default: node bin/countersign.js start) in `cwd` and resolves once it prints its listening line.
 * `detached` gives it its own process group, so `npm start` and the node it spawns stop together.
 */
export async function startServer(options: { cwd: string; env: NodeJS.ProcessEnv; command?: string[] }): Promise<ServerProcess> {
  const [cmd, ...args] = options.command ?? [process.execPath, BIN, 'start'];
  const env = withTestIsolation(options.env, options.env);
  const seconds = startSeconds(env, args);
  const child = spawn(cmd!, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start within ${seconds} s:\n${out}`)), seconds * 1000);
    const check = () => {
      if (/Countersign listening on/.test(out)) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 15_000);
      await exited;
      // `npm start` may exit before the node it started: under --isolation process the supervisor drains its children
      // in order and releases the home's lock last. Stopped means the whole group is gone, as a restart needs.
      const group = () => {
        try {
          process.kill(-child.pid!, 0);
          return true;
        } catch {
          return false;
        }
      };
      while (group()) await new Promise((ok) => setTimeout(ok, 50));
      clearTimeout(killer);
    },
  };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command to completion (`npx countersign ...`, `node .../countersign.js ...`). */
export function run(command: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const [cmd, ...args] = command;
  return new Promise((done) => {
    execFile(cmd!, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}
