import type { Port } from './router.ts';
import type { Directory } from './directory.ts';
import type { RequestStore } from './requests.ts';
import type { KernelOptions } from './kernel.ts';
import type { Held } from './flow.ts';

/**
 * What the kernel's parts share. Built once by createKernel; nothing in it is global. The database, audit log, keys,
 * policy, roles and public URL are the kernel's options as given, and grant lifetime, clock, replica id and lease
 * length the options with their defaults filled in (kernel.ts).
 */
export interface KernelContext
  extends Pick<KernelOptions, 'db' | 'asyncCommitDb' | 'audit' | 'keys' | 'policy' | 'roles' | 'publicUrl'>, Required<Pick<KernelOptions, 'grantTtlSeconds' | 'now' | 'replicaId' | 'leaseMs'>> {
  port: Port;
  directory: Directory;
  store: RequestStore;
  rpId: string;
  /** The connector endpoint (`connector.<name>`) that serves a tool, if any. */
  connectorFor: (tool: string) => string | null;
  /** True for a tool its connector declares `impact: read`. */
  readOnly: (tool: string) => boolean;
  /** Grants held in memory, by jti: a running read's, and an allowed write's until its executor consumes it (flow.ts). */
  heldGrants: Map<string, Held>;
  /** Wakes everyone waiting on a request, in this process and (through signals) in other replicas. */
  wake: (requestId: string) => void;
}
