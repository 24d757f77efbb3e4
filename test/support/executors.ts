import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Core } from '../../gateway/app.ts';
import type { RunningConnectors } from '../../gateway/connectors.ts';
import { loadOrCreateKernelKeys } from '../../gateway/keys.ts';
import { bindChild, proxyConnector } from '../../gateway/isolation/bridge.ts';
import type { Channel } from '../../gateway/isolation/channel.ts';
import { childEnv, connectorsOf, envRefs } from '../../gateway/isolation/env.ts';
import type { DownstreamState, FromChild, FromSupervisor } from '../../gateway/isolation/protocol.ts';
import { KernelError, type DescribeReply, type JsonObject, type Router } from '../../kernel/index.ts';
import type { Connector } from '../../tools/spec.ts';
import { manifestOf, serveToolBodies } from './tool-bodies.ts';

/**
 * The harness's executors in their own processes (COUNTERSIGN_TEST_ISOLATION=process), linked to the test's kernel the
 * way the supervisor links them to the kernel process (gateway/isolation/): one child per connector with a scrubbed
 * environment, its own socket pair to the kernel bound by `bindChild` (the sender stamped from the channel), the
 * kernel's public key sent on Node's IPC channel. Connectors from the config run in `bin/countersign-child.js
 * executor:NAME`, exactly as under `countersign start`; a test's own connector objects run in executor-child.mjs,
 * whose tool bodies stay in the test process (tool-bodies.ts). The edge stays in the test process.
 */

const PRODUCT_CHILD = fileURLToPath(new URL('../../bin/countersign-child.js', import.meta.url));
const TEST_CHILD = fileURLToPath(new URL('./executor-child.mjs', import.meta.url));

interface Child {
  name: string;
  process: ChildProcess;
  channel: Channel | null;
  bodies: Channel | null;
  sandbox: boolean;
  downstream: DownstreamState[];
}

export interface Executors {
  /** For createServices: every connector is an endpoint whose executor is one of these children. */
  remote(router: Router): RunningConnectors;
  /** Once the core is up: the policy must fit the executors' tools, as the supervisor checks at start. */
  check(core: Core): Promise<void>;
  pids: number[];
}

export async function startExecutors(options: { home: string; configPath: string; connectors?: Connector[]; publicJwk?: JsonObject }): Promise<Executors> {
  // The kernel's public key: the one in the home (where createServices finds its key pair), or the caller's own.
  const publicJwk = options.publicJwk ?? ((await loadOrCreateKernelKeys(options.home)).publicJwk as JsonObject);
  const refs = envRefs(options.configPath);
  const names = options.connectors?.map((c) => c.name) ?? connectorsOf(options.configPath);
  let core: Core | null = null;

  const starting = await Promise.allSettled(
    names.map(async (name): Promise<Child> => {
      const given = options.connectors?.find((c) => c.name === name);
      const env: NodeJS.ProcessEnv = { ...childEnv(`executor:${name}`, process.env, refs), COUNTERSIGN_HOME: options.home, COUNTERSIGN_CONFIG: options.configPath };
      if (given) env.COUNTERSIGN_TEST_CONNECTOR = JSON.stringify(manifestOf(given));
      const args = given ? [TEST_CHILD, name] : [PRODUCT_CHILD, `executor:${name}`];
      const stdio: ('ignore' | 'inherit' | 'ipc' | 'pipe')[] = ['ignore', 'inherit', 'inherit', 'ipc', 'pipe', ...(given ? ['pipe' as const] : [])];
      const child = spawn(process.execPath, args, { env, stdio });
      const entry: Child = { name, process: child, channel: null, bodies: given ? serveToolBodies(given, (child.stdio as unknown as Socket[])[5]!) : null, sandbox: false, downstream: [] };
      child.on('message', (message: FromChild) => {
        if (message.type === 'tools.changed') void core?.refreshTools().catch(() => {});
        if ((message.type === 'ready' && 'sandbox' in message) || message.type === 'tools.changed') entry.downstream = message.downstream ?? [];
      });
      send(child, { type: 'start', publicJwk });
      const ready = await new Promise<Extract<FromChild, { sandbox: boolean }>>((ok, fail) => {
        child.once('exit', (code) => fail(new Error(`the executor of ${name} exited with ${code} while starting`)));
        child.on('message', (m: FromChild) => m.type === 'ready' && 'sandbox' in m && ok(m));
      });
      entry.sandbox = ready.sandbox;
      return entry;
    }),
  );
  const children = starting.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = starting.find((s) => s.status === 'rejected');
  if (failed) {
    for (const child of children) child.process.kill();
    throw failed.reason;
  }

  return {
    remote(router) {
      for (const child of children) {
        child.channel = bindChild(router, child.process.stdio[4] as Socket, `executor:${child.name}`, [`connector.${child.name}`]);
        proxyConnector(router, `connector.${child.name}`, () => (child.channel && child.process.exitCode === null ? child.channel : null));
      }
      return {
        sandbox: children.some((c) => c.sandbox),
        names,
        sandboxes: {},
        downstream: () => children.flatMap((c) => c.downstream.map((d) => ({ ...d, error: d.error ?? null, pid: d.pid ?? null }))),
        resetSandboxes: async () => (await Promise.all(children.map((c) => ask(c.process, { type: 'sandbox.reset' }, 'sandbox.reset.done')))).flatMap((m) => m.reset),
        // As the kernel process does (kernel-process.ts): the executor describes the call, asked as `admin`.
        async describe(tool, args) {
          const info = (await core!.kernel.refreshTools()).find((t) => t.name === tool);
          if (!info) throw new KernelError('unknown_tool', `no connector of this server offers a tool named ${tool}`);
          const reply = await core!.admin.send<DescribeReply & JsonObject>(`connector.${info.connector}`, { op: 'describe', tool, args });
          return { intent: reply.intent, connector: info.connector, sandbox: info.sandbox };
        },
        async close() {
          await Promise.all(children.map((c) => stop(c.process)));
          for (const c of children) c.bodies?.close();
        },
      };
    },
    pids: children.map((c) => c.process.pid!),
    async check(started) {
      core = started;
      const problems = await started.refreshTools();
      if (problems.length) throw new Error(problems.join('\n'));
    },
  };
}

function send(child: ChildProcess, message: FromSupervisor): void {
  if (child.connected) child.send(message);
}

function ask<T extends FromChild['type']>(child: ChildProcess, message: FromSupervisor, answer: T): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((ok) => {
    const listen = (m: FromChild) => m.type === answer && (child.off('message', listen), ok(m as Extract<FromChild, { type: T }>));
    child.on('message', listen);
    send(child, message);
  });
}

/** Drains the executor as the supervisor does (calls in flight finish first); killed if it takes longer than 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  if (child.connected) send(child, { type: 'drain' });
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
