import { dirname, resolve } from 'node:path';
import type { Socket } from 'node:net';
import { createCore, type Core } from '../app.ts';
import { edgeConfig } from '../edge-settings.ts';
import { createLogger } from '../operator/log.ts';
import { startAdminSocket } from '../admin.ts';
import { runState } from '../cli.ts';
import { loadConfig } from '../config.ts';
import { connectorNames, type RunningConnectors } from '../connectors.ts';
import { CAPABILITIES, KernelError, type DescribeReply, type JsonObject, type Router } from '../../kernel/index.ts';
import { bindChild, forwarder, proxyConnector } from './bridge.ts';
import type { Channel } from './channel.ts';
import { configEnv, envRefs } from './env.ts';
import { childOptions, type FromSupervisor } from './protocol.ts';

/**
 * The kernel process: database (embedded PGlite stays here), kernel key, policy, approvals, grants, audit with its
 * signer and witnesses, the notifier, the web app's tables, the admin socket. Connectors are endpoints whose
 * executors live in their own processes; the edge's two ports (`gateway`, `web`) are registered here with their
 * capability lists, and the edge's channel may speak only as those two.
 */
export async function runKernel(): Promise<void> {
  // The supervisor hands over channels while this process is still starting: keep them until the core is up.
  const early: [FromSupervisor, Socket | undefined][] = [];
  const keep = (message: FromSupervisor, handle?: Socket) => void early.push([message, handle]);
  process.on('message', keep);
  const options = childOptions(process.env);
  const refs = envRefs(options.configPath);
  const configEnvironment = configEnv('kernel', process.env, refs);
  const names = connectorNames(loadConfig(options.configPath, configEnvironment));
  const channels = new Map<string, Channel>();
  let sandbox = false;
  // The sandboxes live in the executors: the supervisor asks each and answers with the connectors that reset.
  let resetting: Promise<string[]> | null = null;
  let resetDone: (reset: string[]) => void = () => {};
  const resetSandboxes = () =>
    (resetting ??= new Promise<string[]>((ok) => {
      resetDone = (reset) => {
        resetting = null;
        ok(reset);
      };
      process.send!({ type: 'sandbox.reset' });
    }));
  const remote = (router: Router): RunningConnectors => {
    for (const name of names) proxyConnector(router, `connector.${name}`, () => channels.get(`connector.${name}`) ?? null);
    return {
      get sandbox() { return sandbox; },
      names,
      sandboxes: {},
      downstream: () => [],
      resetSandboxes,
      // `policy explain` on the admin socket reads the live intent and pins as one process does: the executor
      // describes the call (its upstream read; nothing runs), asked as `admin`, whose list holds exactly that op.
      async describe(tool, args) {
        const info = (await core.kernel.refreshTools()).find((t) => t.name === tool);
        if (!info) throw new KernelError('unknown_tool', `no connector of this server offers a tool named ${tool}`);
        const reply = await core.admin.send<DescribeReply & JsonObject>(`connector.${info.connector}`, { op: 'describe', tool, args });
        return { intent: reply.intent, connector: info.connector, sandbox: info.sandbox };
      },
      close: async () => {},
    };
  };
  // The kernel follows the config file, as one process does: policy and roles reload on save (policy-reload.ts).
  const core: Core = await createCore({ ...options, configEnv: configEnvironment, watchConfig: true, log: createLogger() }, remote);
  // The edge's ports: their capability lists apply here. The edge answers one message, on `gateway`: a connector
  // host's progress of an execution an agent's call follows, passed over the edge's channel.
  let edge: Channel | null = null;
  core.router.register('gateway', forwarder('gateway', () => edge), CAPABILITIES.gateway);
  core.router.register('web', async () => null, CAPABILITIES.web);
  const admin = await startAdminSocket(options.home, (argv, cli) => runState(core, argv, cli));

  const receive = (message: FromSupervisor, handle?: Socket) => {
    if (message.type === 'channel' && handle) {
      const channel = bindChild(core.router, handle, message.child, message.names);
      for (const name of message.names) if (name.startsWith('connector.')) channels.set(name, channel);
      if (message.names.includes('gateway')) edge = channel;
      void channel.closed.then(() => {
        for (const name of message.names) if (channels.get(name) === channel) channels.delete(name);
        if (edge === channel) edge = null;
      });
      if (message.child.startsWith('executor:')) void core.refreshTools().catch(() => {});
    } else if (message.type === 'sandbox.reset.done') {
      resetDone(message.reset);
    } else if (message.type === 'sandbox') {
      sandbox = message.sandbox;
    } else if (message.type === 'tools.changed') {
      void core.refreshTools().catch(() => {});
    } else if (message.type === 'check') {
      // Every executor serves now: the policy is type-checked against their tools, as one process does at start.
      void core.refreshTools().then(
        (problems) => process.send!({ type: 'checked', problems }),
        (error: Error) => process.send!({ type: 'checked', problems: [`cannot list the connectors' tools: ${error.message}`] }),
      );
    } else if (message.type === 'drain') {
      void (async () => {
        admin.close();
        await core.close();
        process.exit(0);
      })();
    }
  };
  process.off('message', keep);
  process.on('message', receive);
  for (const [message, handle] of early) receive(message, handle);
  process.send!({
    type: 'ready',
    connectors: names,
    publicJwk: core.keys.publicJwk,
    publicUrl: core.publicUrl,
    database: `${core.database.kind} (${core.database.location})`,
    vapidPublicKey: core.vapidPublicKey,
    oauthSigningKey: core.oauthSigningKey,
    config: edgeConfig(core.config),
    configDir: dirname(resolve(options.configPath)),
  });
}
