import type { KernelKeys, Router } from '../kernel/index.ts';
import { serveConnector } from '../tools/host.ts';
import type { Connector } from '../tools/spec.ts';
import { createGithubConnector } from '../tools/github/index.ts';
import { startGithubSandbox } from '../tools/github/sandbox/index.ts';
import { createStripeConnector } from '../tools/stripe/index.ts';
import { startStripeSandbox } from '../tools/stripe/sandbox/index.ts';
import type { Config } from './config.ts';

export interface RunningConnectors {
  /** True when at least one connector talks to its sandbox: every screen then says SANDBOX. */
  sandbox: boolean;
  names: string[];
  /** Sandbox upstreams started for connectors without credentials, by connector name (tests inspect them). */
  sandboxes: Record<string, { url: string }>;
  close(): Promise<void>;
}

/**
 * Starts each connector: with credentials from config or the environment it talks to the real API; without,
 * a local sandbox upstream is started and the connector is labelled SANDBOX. Credentials stay in this module
 * and the executors; nothing else receives them.
 */
export async function startConnectors(router: Router, config: Config, keys: KernelKeys): Promise<RunningConnectors> {
  const closers: (() => Promise<void>)[] = [];
  const sandboxes: Record<string, { url: string }> = {};
  const connectors: Connector[] = [];

  const githubToken = config.connectors?.github?.token ?? process.env.GITHUB_TOKEN;
  if (githubToken) {
    connectors.push(createGithubConnector({ token: githubToken, baseUrl: config.connectors?.github?.baseUrl, sandbox: false }));
  } else {
    const sandbox = await startGithubSandbox({});
    closers.push(() => sandbox.close());
    sandboxes.github = sandbox;
    connectors.push(createGithubConnector({ token: 'sandbox-token', baseUrl: sandbox.url, sandbox: true }));
  }

  const stripeKey = config.connectors?.stripe?.secretKey ?? process.env.STRIPE_SECRET_KEY;
  if (stripeKey) {
    connectors.push(createStripeConnector({ secretKey: stripeKey, baseUrl: config.connectors?.stripe?.baseUrl, sandbox: false }));
  } else {
    const sandbox = await startStripeSandbox({});
    closers.push(() => sandbox.close());
    sandboxes.stripe = sandbox;
    connectors.push(createStripeConnector({ secretKey: 'sk_test_sandbox', baseUrl: sandbox.url, sandbox: true }));
  }

  return serveAll(router, connectors, keys, sandboxes, closers);
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
    async close() {
      for (const close of closers) await close().catch(() => {});
    },
  };
}
