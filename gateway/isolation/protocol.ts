import { resolve } from 'node:path';
import type { JsonObject } from '../../kernel/index.ts';
import type { StartOptions } from '../app.ts';
import type { EdgeConfig, EdgeSettings } from '../edge-settings.ts';

/**
 * What the supervisor and its children say to each other over Node's IPC channel (process lifecycle only; kernel
 * messages travel on each child's own socket, channel.ts). Nothing here is trusted as a kernel message.
 */

export interface ProcessState {
  name: string;
  pid: number | null;
  state: 'starting' | 'up' | 'restarting' | 'stopped';
  restarts: number;
  /** Resident memory, read by the supervisor (Linux: /proc); null where it cannot tell. */
  rssBytes?: number | null;
}

export type FromSupervisor =
  /** To the kernel, with the kernel's end of a child's socket pair as the handle. */
  | { type: 'channel'; child: string; names: string[] }
  | { type: 'sandbox'; sandbox: boolean }
  | { type: 'tools.changed' }
  /** To the kernel once every executor serves: check the policy against their tools. */
  | { type: 'check' }
  /** To an executor: the kernel's public key, to verify grants with. */
  | { type: 'start'; publicJwk: JsonObject }
  /** To the edge. */
  | { type: 'edge'; settings: EdgeSettings; database: string }
  | { type: 'processes'; processes: ProcessState[]; downstream: DownstreamState[] }
  /** To each executor (`countersign sandbox reset` on a running server), and the set's answer back to the kernel. */
  | { type: 'sandbox.reset' }
  | { type: 'sandbox.reset.done'; reset: string[] }
  | { type: 'drain' };

export type KernelReady = {
  type: 'ready';
  connectors: string[];
  publicJwk: JsonObject;
  publicUrl: string;
  database: string;
  vapidPublicKey: string | null;
  /** The authorization server's signing key for the edge (it signs ID tokens there); null with `auth: external`. */
  oauthSigningKey: JsonObject | null;
  config: EdgeConfig;
  configDir: string;
};

export type FromChild =
  | KernelReady
  | { type: 'ready'; sandbox: boolean; downstream?: DownstreamState[] }
  | { type: 'listening'; port: number }
  /** From the kernel: what the policy gets wrong about the tools (empty: it fits). */
  | { type: 'checked'; problems: string[] }
  /** From the kernel: reset every executor's sandbox; from an executor: the connectors it reset. */
  | { type: 'sandbox.reset' }
  | { type: 'sandbox.reset.done'; reset: string[] }
  /** From an executor whose tools changed (a downstream MCP server), with its downstream servers' states. */
  | { type: 'tools.changed'; downstream?: DownstreamState[] };

/** A downstream MCP server as /healthz shows it. */
export interface DownstreamState {
  name: string;
  state: string;
  tools: number;
  error?: string | null;
  /** A stdio server's process id (diagnostics, crash tests). */
  pid?: number | null;
}

/** Start options as the supervisor passes them down: in the (scrubbed) environment, paths already resolved. */
export function childOptions(env: NodeJS.ProcessEnv): StartOptions {
  return {
    home: resolve(env.COUNTERSIGN_HOME ?? '.countersign'),
    configPath: resolve(env.COUNTERSIGN_CONFIG || 'countersign.yaml'),
    databaseUrl: env.DATABASE_URL || undefined,
    publicUrl: env.COUNTERSIGN_PUBLIC_URL || undefined,
    port: Number(env.PORT ?? 8787),
    host: env.HOST ?? '127.0.0.1',
  };
}
