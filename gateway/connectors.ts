import { join, resolve as resolvePath } from 'node:path';
import { KernelError, type Intent, type JsonObject, type KernelKeys, type Router } from '../kernel/index.ts';
import { serveConnector, validate } from '../tools/host.ts';
import type { Connector } from '../tools/spec.ts';
import type { McpConnector } from '../tools/mcp/index.ts';
import type { Config } from './config.ts';

export interface RunningConnectors {
  /** True when at least one connector talks to its sandbox: every screen then says SANDBOX. */
  sandbox: boolean;
  names: string[];
  /** Sandbox upstreams started for connectors without credentials, by connector name (tests inspect them). */
  sandboxes: Record<string, { url: string }>;
  /** Downstream MCP servers and their state, for the banner and /healthz. */
  downstream(): { name: string; state: string; error: string | null; tools: number; pid: number | null }[];
  /**
   * Puts the sandbox story back in the sandboxes this process runs and returns their connector names
   * (`countersign sandbox reset` on a running server); with executors in their own processes, each resets its own.
   */
  resetSandboxes?(): string[] | Promise<string[]>;
  /**
   * Describes a hypothetical call as the connector would before policy (`policy explain` on a running server): live
   * intent and pins, nothing executed. Absent when connectors run in their own processes.
   */
  describe?(tool: string, args: JsonObject): Promise<{ intent: Intent; connector: string; sandbox: boolean }>;
  close(): Promise<void>;
}

/** Where a sandbox upstream keeps its world between restarts (`countersign sandbox reset` deletes these files). */
export const sandboxStateFile = (home: string, connector: string) => join(home, 'sandbox', `${connector}.v8`);

/** The connectors a config runs: the three built-in ones, and `mcp` when downstream MCP servers are configured. */
export function connectorNames(config: Config): string[] {
  return ['github', 'stripe', 'aws', ...(Object.keys(config.connectors?.mcp?.servers ?? {}).length > 0 ? ['mcp'] : [])];
}

export interface StartedConnector {
  connector: Connector;
  /** The local sandbox upstream started because no credential was given. */
  sandbox: { url: string; reset(): void } | null;
  /** Downstream MCP servers (only for `mcp`). */
  mcp: McpConnector | null;
  close(): Promise<void>;
}

/**
 * Starts one connector: with credentials from config or the environment it talks to the real API; without, a local
 * sandbox upstream is started and the connector is labelled SANDBOX. This is where credentials are read: in the
 * executor's process when processes are isolated, and nothing else receives them.
 */
export async function startConnector(
  name: string,
  config: Config,
  options: { home: string; configDir?: string; onToolsChanged?: () => void; env?: NodeJS.ProcessEnv },
): Promise<StartedConnector> {
  const env = options.env ?? process.env;
  const plain = (connector: Connector, sandbox: { url: string; reset(): void; close(): Promise<void> } | null): StartedConnector => ({
    connector,
    sandbox: sandbox && { url: sandbox.url, reset: () => sandbox.reset() },
    mcp: null,
    close: async () => sandbox?.close(),
  });
  // Each connector's SDK and sandbox load only where that connector starts: an executor process holds one of them
  // (measured 2026-11-28: each executor was about 250 MB resident with all four loaded).
  if (name === 'github') {
    const [{ createGithubConnector }, { startGithubSandbox }] = await Promise.all([import('../tools/github/index.ts'), import('../tools/github/sandbox/index.ts')]);
    const githubToken = config.connectors?.github?.token ?? env.GITHUB_TOKEN;
    if (githubToken) return plain(createGithubConnector({ token: githubToken, baseUrl: config.connectors?.github?.baseUrl, sandbox: false }), null);
    const sandbox = await startGithubSandbox({ stateFile: sandboxStateFile(options.home, 'github') });
    return plain(createGithubConnector({ token: 'sandbox-token', baseUrl: sandbox.url, sandbox: true }), sandbox);
  }
  if (name === 'stripe') {
    const [{ createStripeConnector }, { startStripeSandbox }] = await Promise.all([import('../tools/stripe/index.ts'), import('../tools/stripe/sandbox/index.ts')]);
    const stripeKey = config.connectors?.stripe?.secretKey ?? env.STRIPE_SECRET_KEY;
    if (stripeKey) return plain(createStripeConnector({ secretKey: stripeKey, baseUrl: config.connectors?.stripe?.baseUrl, sandbox: false }), null);
    const sandbox = await startStripeSandbox({ stateFile: sandboxStateFile(options.home, 'stripe') });
    return plain(createStripeConnector({ secretKey: 'sk_test_sandbox', baseUrl: sandbox.url, sandbox: true }), sandbox);
  }
  if (name === 'aws') {
    const [{ awsCredentialsConfigured, createAwsConnector }, { startAwsSandbox }] = await Promise.all([import('../tools/aws/index.ts'), import('../tools/aws/sandbox/index.ts')]);
    // AWS uses the SDK's standard chain: configured keys, or anything the environment gives the chain, mean the real
    // account; nothing at all means the sandbox.
    const aws = config.connectors?.aws;
    if (aws?.accessKeyId !== undefined !== (aws?.secretAccessKey !== undefined)) {
      throw new KernelError('config_error', 'connectors.aws needs both accessKeyId and secretAccessKey (or neither, to use the standard AWS credential chain)');
    }
    if (aws?.accessKeyId || aws?.endpoint || awsCredentialsConfigured(env)) {
      const credentials = aws?.accessKeyId ? { accessKeyId: aws.accessKeyId, secretAccessKey: aws.secretAccessKey!, sessionToken: aws.sessionToken } : undefined;
      return plain(createAwsConnector({ region: aws?.region, credentials, endpoint: aws?.endpoint, sandbox: false }), null);
    }
    const sandbox = await startAwsSandbox({ stateFile: sandboxStateFile(options.home, 'aws') });
    return plain(createAwsConnector({ region: sandbox.region, credentials: sandbox.credentials, endpoint: sandbox.url, sandbox: true }), sandbox);
  }
  if (name === 'mcp') {
    const servers = config.connectors?.mcp?.servers ?? {};
    // Descriptor paths are relative to the config file, like everything else it names.
    const resolved = Object.fromEntries(Object.entries(servers).map(([n, s]) => [n, s.descriptor ? { ...s, descriptor: resolvePath(options.configDir ?? '.', s.descriptor) } : s]));
    const { createMcpConnector } = await import('../tools/mcp/index.ts');
    const mcp = await createMcpConnector({ servers: resolved, home: options.home, onToolsChanged: () => options.onToolsChanged?.() });
    return { connector: mcp, sandbox: null, mcp, close: () => mcp.close() };
  }
  throw new KernelError('config_error', `there is no connector named ${name}`);
}

/** The downstream MCP servers' state, for the banner and /healthz. */
export function downstreamState(mcp: McpConnector | null): ReturnType<RunningConnectors['downstream']> {
  return (mcp?.downstreams ?? []).map((d) => ({ name: d.name, state: d.state, error: d.lastError, tools: d.tools.length, pid: d.pid }));
}

/** Starts every connector of the config in this process (`--isolation none`). */
export async function startConnectors(
  router: Router,
  config: Config,
  keys: KernelKeys,
  options: { home: string; configDir?: string; onToolsChanged?: () => void } = { home: '.countersign' },
): Promise<RunningConnectors> {
  const started: StartedConnector[] = [];
  for (const name of connectorNames(config)) started.push(await startConnector(name, config, options));
  const sandboxes = Object.fromEntries(started.flatMap((s) => (s.sandbox ? [[s.connector.name, { url: s.sandbox.url }]] : [])));
  const mcp = started.find((s) => s.mcp)?.mcp ?? null;
  const running = serveAll(router, started.map((s) => s.connector), keys, sandboxes, started.map((s) => () => s.close()));
  const resetSandboxes = () => started.flatMap((s) => (s.sandbox ? (s.sandbox.reset(), [s.connector.name]) : []));
  return { ...running, downstream: () => downstreamState(mcp), resetSandboxes };
}

/** Serves the given connectors on the router (also used by tests with their own connectors). */
export function serveAll(
  router: Router,
  connectors: Connector[],
  keys: KernelKeys,
  sandboxes: Record<string, { url: string }> = {},
  closers: (() => Promise<void>)[] = [],
): RunningConnectors {
  for (const connector of connectors) serveConnector(router, connector, keys.publicKey);
  return {
    sandbox: connectors.some((c) => c.sandbox),
    names: connectors.map((c) => c.name),
    sandboxes,
    downstream: () => [],
    async describe(tool, args) {
      const connector = connectors.find((c) => c.tools.some((t) => t.name === tool));
      const spec = connector?.tools.find((t) => t.name === tool);
      if (!connector || !spec) throw new KernelError('unknown_tool', `no connector of this server offers a tool named ${tool}`);
      const described = await spec.describe(validate(spec, args));
      return { intent: { ...described, sandbox: connector.sandbox } as Intent, connector: connector.name, sandbox: connector.sandbox };
    },
    async close() {
      for (const close of closers) await close().catch(() => {});
    },
  };
}
