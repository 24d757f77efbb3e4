import { dirname, join, resolve } from 'node:path';
import type { Socket } from 'node:net';
import { importJWK } from 'jose';
import { loadConfig } from '../config.ts';
import { downstreamState, startConnector, type StartedConnector } from '../connectors.ts';
import type { StartOptions } from '../app.ts';
import { serveConnector } from '../../tools/host.ts';
import { openGrantJournal } from '../../tools/journal.ts';
import { childRouter } from './bridge.ts';
import { configEnv, envRefs } from './env.ts';
import { childOptions, type FromSupervisor } from './protocol.ts';

/**
 * One connector's executor in its own process: the only process holding that connector's credentials (its
 * environment holds nothing else, env.ts). It serves `connector.<name>` over its channel to the kernel, and verifies
 * every grant itself with the kernel's public key (tools/host.ts) before it acts.
 */
export async function runExecutor(name: string, socket: Socket, startOne: ConnectorStart = fromConfig): Promise<void> {
  const options = childOptions(process.env);
  // The connector (and its sandbox) starts while the kernel does; only serving it needs the kernel's key.
  let started: StartedConnector | null = null;
  const downstream = () => downstreamState(started?.mcp ?? null).map(({ name, state, tools, error, pid }) => ({ name, state, tools, error: error ?? null, pid }));
  // Sent on every change of a downstream server's tools or state (down, up again): /healthz shows it from here.
  started = await startOne(name, options, () => void (process.connected && process.send!({ type: 'tools.changed', downstream: downstream() })));
  const start = await new Promise<Extract<FromSupervisor, { type: 'start' }>>((ok) => {
    const listen = (message: FromSupervisor) => {
      if (message.type !== 'start') return;
      process.off('message', listen);
      ok(message);
    };
    process.on('message', listen);
  });
  const publicKey = (await importJWK(start.publicJwk, 'EdDSA')) as CryptoKey;
  const router = childRouter(socket);
  const journal = openGrantJournal(join(options.home, 'journal', `${name}.grants`));
  serveConnector(router, started.connector, publicKey, { journal });
  const drain = async () => {
    // Calls in flight finish first (their outcome is what exactly-once needs), then the upstreams close.
    const deadline = Date.now() + 20_000;
    while (router.channel.pending() > 0 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    await started.close().catch(() => {});
    process.exit(0);
  };
  process.on('message', (message: FromSupervisor) => {
    if (message.type === 'drain') void drain();
    if (message.type === 'sandbox.reset') {
      started.sandbox?.reset();
      process.send!({ type: 'sandbox.reset.done', reset: started.sandbox ? [name] : [] });
    }
  });
  // The kernel's end closing means the kernel is gone: this executor's grants could not be consumed any more.
  void router.channel.closed.then(() => void drain());
  process.send!({ type: 'ready', sandbox: started.connector.sandbox, downstream: downstream() });
}

/** How an executor gets its connector; the test harness passes its own (test/support/executors.ts). */
export type ConnectorStart = (name: string, options: StartOptions, onToolsChanged: () => void) => Promise<StartedConnector>;

/** From the config and this process's own environment: the only place a connector's credentials are read. */
const fromConfig: ConnectorStart = (name, options, onToolsChanged) => {
  const config = loadConfig(options.configPath, configEnv(`executor:${name}`, process.env, envRefs(options.configPath)));
  return startConnector(name, config, { home: options.home, configDir: dirname(resolve(options.configPath)), onToolsChanged });
};
