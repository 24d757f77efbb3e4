import type { JsonObject } from '../kernel/index.ts';
import type { Config } from './config.ts';

/**
 * The edge's settings as plain data, apart from the edge's app (edge-app.ts): the supervisor and the kernel process
 * build them without loading the web app, the MCP server or the OAuth provider they would never run.
 */

/** What the edge needs to know, as plain data (the kernel process hands it over at start). */
export interface EdgeSettings {
  publicUrl: string;
  host: string;
  /** The port it listens on (for the Host and Origin checks). */
  listenPort: number;
  sandbox: boolean;
  holdSeconds: number;
  /** Who issues OAuth access tokens: Countersign itself (builtin), the issuer under `oauth` (external), or both. */
  auth: Config['auth'];
  oauth: Config['oauth'];
  rateLimitPerMinute: number | undefined;
  limits: Config['limits'];
  allowedHosts: string[] | undefined;
  /** The reverse proxies whose forwarding headers name the client (net/proxy.ts); unset: headers are ignored. */
  trustProxy?: Config['trustProxy'];
  vapidPublicKey: string | null;
  /** The built-in authorization server's ID-token signing key, the same on every replica; null with `auth: external`. */
  oauthSigningKey: JsonObject | null;
}

/**
 * What the edge takes from the config file. The kernel process loads the config and sends exactly this to the edge
 * (gateway/isolation/), so a setting added here reaches the edge in both modes.
 */
export type EdgeConfig = Pick<EdgeSettings, 'holdSeconds' | 'auth' | 'oauth' | 'rateLimitPerMinute' | 'limits' | 'allowedHosts' | 'trustProxy'>;

export function edgeConfig(config: Config): EdgeConfig {
  return {
    holdSeconds: config.holdSeconds ?? 25,
    auth: config.auth,
    oauth: config.oauth,
    rateLimitPerMinute: config.rateLimit?.perMinute,
    limits: config.limits,
    allowedHosts: config.allowedHosts,
    trustProxy: config.trustProxy,
  };
}

/** The settings an edge is started with: its config, and what the process that starts it knows. */
export type EdgeStart = Omit<EdgeSettings, keyof EdgeConfig>;

export function edgeSettings(config: EdgeConfig, s: EdgeStart): EdgeSettings {
  return { ...s, ...config };
}
