import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { stop as stopEsbuild } from 'esbuild';
import { edgeSettings } from '../edge-settings.ts';
import { bundleEdge, type EdgeBundle } from './edge-bundle.ts';
import { childEnv, connectorsOf, envRefs, type Role } from './env.ts';
import type { DownstreamState, FromChild, FromSupervisor, KernelReady, ProcessState } from './protocol.ts';

/**
 * `countersign start --isolation process`: a small supervisor that holds no secret itself beyond its own environment
 * and runs the kernel, one executor per connector and the edge, each with a scrubbed environment (env.ts) and its own
 * socket pair to the kernel. A crashed executor or edge restarts with backoff; a crashed kernel takes the set down
 * and restarts it (every channel ended with it). SIGTERM drains in order: edge, executors, kernel.
 */

const CHILD = fileURLToPath(new URL('../../bin/countersign-child.js', import.meta.url));

/**
 * The kernel child holds the embedded database (PGlite, unless DATABASE_URL names PostgreSQL), and V8 recompiles its
 * WebAssembly's hot functions with TurboFan on worker threads whose native memory the C allocator keeps for the life of
 * the process: about 45-70 MB (bench/NOTES.md, ninth and eleventh passes). Liftoff alone, V8's baseline compiler, costs
 * about 5% more CPU per kernel write and nothing measurable per read. V8 takes the flag from the command line only:
 * Node 24 ignores it when set at run time, and NODE_OPTIONS refuses it.
 */
export const v8Flags = (role: Role, env: NodeJS.ProcessEnv): string[] => (role === 'kernel' && !env.DATABASE_URL ? ['--liftoff-only'] : []);
const START_TIMEOUT_MS = 300_000; // generous: a loaded 2-core CI machine took 150 s to start a kernel

/** A crash after this long up is not a quick one: the backoff starts over. */
export const GOOD_RUN_MS = 60_000;

/**
 * Quick crashes in a row once a child crashed after running `ranMs`: one more than before, or none when it had run well
 * (over a minute).
 */
export function quickCrashesAfter(before: number, ranMs: number): number {
  return ranMs > GOOD_RUN_MS ? 0 : before + 1;
}

/** The wait before a restart: 0.5 s doubling per quick crash in a row, at most 30 s. */
export function backoffMs(quickCrashes: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(Math.max(0, quickCrashes), 6));
}

export interface SupervisorOptions {
  configPath: string;
  port: number;
  host: string;
  env: NodeJS.ProcessEnv;
  /** Called once the edge listens, with what to print. */
  onListening(banner: { port: number; ready: KernelReady; sandbox: boolean; pids: ProcessState[] }): void;
}

interface Running {
  role: Role;
  child: ChildProcess;
  state: ProcessState;
  startedAt: number;
}

export interface Supervisor {
  processes(): ProcessState[];
  stop(): Promise<void>;
}

export async function supervise(options: SupervisorOptions): Promise<Supervisor> {
  const refs = envRefs(options.configPath);
  const running = new Map<Role, Running>();
  // Restarts after a crash since the set started (shown), and quick crashes in a row (the backoff's count).
  const restarts = new Map<Role, number>();
  const quickCrashes = new Map<Role, number>();
  // Crashed and not yet up again: listed as `restarting` (pid null while the backoff runs), so /healthz says so.
  const crashed = new Set<Role>();
  let stopping = false;
  const backoffs = new Set<() => void>();
  let ready: KernelReady | null = null;
  let sandbox = false;
  let port = options.port;
  let generation = 0;
  // Built once while the kernel starts, for every start of the edge; removed when the set stops.
  const bundling = bundleEdge();
  bundling.catch(() => {});
  let bundle: EdgeBundle | null = null;

  const downstream = new Map<Role, DownstreamState[]>();
  const processes = (): ProcessState[] => [
    ...[...running.values()].map((r) => ({ ...r.state, rssBytes: rss(r.child.pid) })),
    ...[...crashed].filter((role) => !running.has(role)).map((role) => ({ name: role, pid: null, state: 'restarting' as const, restarts: restarts.get(role) ?? 0, rssBytes: null })),
  ];
  const publish = () => {
    const edge = running.get('edge');
    if (edge?.child.connected) send(edge.child, { type: 'processes', processes: processes(), downstream: [...downstream.values()].flat() });
  };
  // The edge shows each process's memory on /healthz and /metrics; it cannot read /proc of the others itself.
  const publisher = setInterval(publish, 5_000);
  publisher.unref();
  // A child can die between the check and the write: the write's EPIPE goes to the callback, not to an unhandled
  // 'error' event that would take the supervisor down with it.
  const send = (child: ChildProcess, message: FromSupervisor, handle?: Socket) => {
    if (child.connected) child.send(message, handle as never, () => {});
  };

  function spawnChild(role: Role): Running {
    const env = childEnv(role, options.env, refs);
    const stdio: ('ignore' | 'inherit' | 'ipc' | 'pipe')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
    if (role !== 'kernel') stdio.push('pipe');
    // The edge runs its bundle under the permission model (edge-bundle.ts); the role is its last argument either way.
    const args = role === 'edge' ? [...bundle!.flags, bundle!.file, role] : [...v8Flags(role, env), CHILD, role];
    const child = spawn(process.execPath, args, { env, stdio });
    const state = crashed.has(role) ? 'restarting' : 'starting';
    const entry: Running = { role, child, startedAt: Date.now(), state: { name: role, pid: child.pid ?? null, state, restarts: restarts.get(role) ?? 0 } };
    running.set(role, entry);
    if (state === 'restarting') publish();
    if (role !== 'kernel') {
      // The kernel gets this child's other end: the only way to speak to the kernel as this child.
      const names = role === 'edge' ? ['gateway', 'web'] : [`connector.${role.slice('executor:'.length)}`];
      send(running.get('kernel')!.child, { type: 'channel', child: role, names }, child.stdio[4] as Socket);
    }
    const mine = generation;
    child.on('message', (message: FromChild) => {
      if ((message.type === 'ready' && 'sandbox' in message) || message.type === 'tools.changed') {
        if (message.downstream?.length) downstream.set(role, message.downstream);
        publish();
      }
      if (message.type === 'sandbox.reset' && role === 'kernel') void resetSandboxes(child);
      if (message.type === 'tools.changed') {
        const kernel = running.get('kernel');
        if (kernel) send(kernel.child, { type: 'tools.changed' });
      }
    });
    // A failed spawn or a broken IPC pipe is reported here; unheard, it would take the supervisor down with it. A spawn
    // that failed (no pid: EAGAIN at a process limit, ENOENT while Node is being upgraded) never emits 'exit'; as an
    // exit it is restarted with the same backoff, where it would otherwise stay down for good.
    child.on('error', (error) => {
      process.stderr.write(`countersign: ${role} process: ${error.message}\n`);
      if (child.pid === undefined) child.emit('exit', child.exitCode, null);
    });
    child.once('exit', (code, signal) => {
      if (running.get(role) === entry) running.delete(role);
      if (stopping || mine !== generation) return;
      crashed.add(role);
      // With the kernel gone every channel ended, and the others leave too: the kernel's restart starts them all.
      if (role !== 'kernel' && crashed.has('kernel')) return;
      process.stderr.write(`countersign: ${role} process ${child.pid} exited (${signal ?? `code ${code}`}); restarting\n`);
      void restart(role, entry);
    });
    return entry;
  }

  function waitFor<T extends FromChild>(entry: Running, accept: (message: FromChild) => message is T): Promise<T> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`${entry.role} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      const listen = (message: FromChild) => {
        if (!accept(message)) return;
        clearTimeout(timer);
        entry.child.off('message', listen);
        entry.state.state = 'up';
        crashed.delete(entry.role);
        if (process.env.COUNTERSIGN_DEBUG) process.stderr.write(`countersign: ${entry.role} up after ${Date.now() - entry.startedAt} ms\n`);
        ok(message);
      };
      entry.child.on('message', listen);
      entry.child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`${entry.role} exited with ${code} while starting`));
      });
    });
  }

  /** Every executor resets its sandbox; the kernel hears which connectors did (an executor that is down: none). */
  async function resetSandboxes(kernel: ChildProcess): Promise<void> {
    const executors = [...running.values()].filter((r) => r.role.startsWith('executor:') && r.child.connected);
    const answers = await Promise.all(
      executors.map(
        (entry) =>
          new Promise<string[]>((ok) => {
            const timer = setTimeout(() => done([]), 10_000);
            const listen = (message: FromChild) => message.type === 'sandbox.reset.done' && done(message.reset);
            const done = (reset: string[]) => {
              clearTimeout(timer);
              entry.child.off('message', listen);
              entry.child.off('exit', gone);
              ok(reset);
            };
            const gone = () => done([]);
            entry.child.on('message', listen);
            entry.child.once('exit', gone);
            send(entry.child, { type: 'sandbox.reset' });
          }),
      ),
    );
    send(kernel, { type: 'sandbox.reset.done', reset: answers.flat() });
  }

  /** Resident memory of a child (Linux); null elsewhere or once it is gone. */
  function rss(pid: number | undefined): number | null {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return kb ? Number(kb) * 1024 : null;
    } catch {
      return null;
    }
  }

  async function startExecutor(name: string, spawned?: Running): Promise<boolean> {
    const entry = spawned ?? spawnChild(`executor:${name}`);
    send(entry.child, { type: 'start', publicJwk: ready!.publicJwk });
    const message = await waitFor(entry, (m): m is Extract<FromChild, { sandbox: boolean }> => m.type === 'ready' && 'sandbox' in m);
    return message.sandbox;
  }

  async function startEdge(spawned?: Running): Promise<void> {
    const entry = spawned ?? spawnChild('edge');
    const settings = edgeSettings(ready!.config, { publicUrl: ready!.publicUrl, host: options.host, listenPort: port, sandbox, vapidPublicKey: ready!.vapidPublicKey, oauthSigningKey: ready!.oauthSigningKey });
    send(entry.child, { type: 'edge', settings, database: ready!.database });
    const listening = await waitFor(entry, (m): m is Extract<FromChild, { type: 'listening' }> => m.type === 'listening');
    port = listening.port;
    publish();
  }

  async function startSet(): Promise<void> {
    generation++;
    // All start at once (loading code is most of a start); each waits for what it needs from the one before.
    const kernel = spawnChild('kernel');
    const kernelReady = waitFor(kernel, (m): m is KernelReady => m.type === 'ready' && 'publicJwk' in m);
    const executors = connectorsOf(options.configPath).map((name) => [name, spawnChild(`executor:${name}`)] as const);
    bundle = await bundling;
    // Built once for every start of the edge: esbuild's service process (about 130 MB) is not needed any more.
    await stopEsbuild();
    const edge = spawnChild('edge');
    ready = await kernelReady;
    const sandboxes = await Promise.all(executors.map(([name, entry]) => startExecutor(name, entry)));
    sandbox = sandboxes.some(Boolean);
    send(kernel.child, { type: 'sandbox', sandbox });
    // A policy naming a tool nobody offers, or not type-checking against one, refuses the start, as in one process.
    send(kernel.child, { type: 'check' });
    const checked = await waitFor(kernel, (m): m is Extract<FromChild, { type: 'checked' }> => m.type === 'checked');
    if (checked.problems.length) throw new Error(checked.problems.join('\n'));
    await startEdge(edge);
  }

  async function restart(role: Role, entry: Running): Promise<void> {
    const count = quickCrashesAfter(quickCrashes.get(role) ?? 0, Date.now() - entry.startedAt);
    quickCrashes.set(role, count);
    restarts.set(role, (restarts.get(role) ?? 0) + 1);
    publish();
    const mine = generation;
    await new Promise<void>((ok) => {
      const timer = setTimeout(woken, backoffMs(count));
      function woken() {
        clearTimeout(timer);
        backoffs.delete(woken);
        ok();
      }
      backoffs.add(woken);
    });
    // Meanwhile the kernel crashed too (its restart starts this one) or the set started again: nothing left to do.
    if (stopping || mine !== generation || (role !== 'kernel' && crashed.has('kernel'))) return;
    try {
      if (role === 'kernel') {
        // Every channel ended with the kernel: take the rest down and start the set again.
        await stopAll();
        stopping = false;
        await startSet();
      } else if (role === 'edge') await startEdge();
      else {
        await startExecutor(role.slice('executor:'.length));
        publish();
      }
    } catch (error) {
      process.stderr.write(`countersign: restarting ${role} failed: ${(error as Error).message}\n`);
    }
  }

  async function stopOne(role: Role, graceMs: number): Promise<void> {
    const entry = running.get(role);
    if (!entry || entry.child.exitCode !== null) return;
    const exited = new Promise((ok) => entry.child.once('exit', ok));
    if (entry.child.connected) send(entry.child, { type: 'drain' });
    else entry.child.kill('SIGTERM');
    const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async function stopAll(): Promise<void> {
    stopping = true;
    // A restart waiting out its backoff gives up now: its timer would hold the stopped supervisor open for up to 30 s.
    for (const wake of [...backoffs]) wake();
    await stopOne('edge', 15_000);
    await Promise.all([...running.keys()].filter((r) => r.startsWith('executor:')).map((r) => stopOne(r, 25_000)));
    await stopOne('kernel', 15_000);
  }

  const stop = async () => {
    clearInterval(publisher);
    await stopAll();
    bundle?.remove();
  };
  try {
    await startSet();
  } catch (error) {
    await stop();
    (await bundling.catch(() => null))?.remove();
    throw error;
  }
  options.onListening({ port, ready: ready!, sandbox, pids: processes() });
  return { processes, stop };
}
