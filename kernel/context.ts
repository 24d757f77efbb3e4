import type { Db } from './store/db.ts';
import type { Port } from './router.ts';
import type { Directory } from './directory.ts';
import type { RequestStore } from './requests.ts';
import type { AuditLog } from './audit/log.ts';
import type { CompiledPolicy } from './policy/index.ts';
import type { KernelKeys } from './grants.ts';

/** What the kernel's parts share. Built once by createKernel; nothing in it is global. */
export interface KernelContext {
  db: Db;
  port: Port;
  directory: Directory;
  store: RequestStore;
  audit: AuditLog;
  keys: KernelKeys;
  policy: () => CompiledPolicy;
  roles: () => Readonly<Record<string, readonly string[]>>;
  /** Origin of the approval web app: passkey assertions must come from it; approval links point at it. */
  publicUrl: string;
  rpId: string;
  grantTtlSeconds: number;
  now: () => Date;
  /** The connector endpoint (`connector.<name>`) that serves a tool, if any. */
  connectorFor: (tool: string) => string | null;
  /** True for a tool its connector declares `impact: read`. */
  readOnly: (tool: string) => boolean;
  /** Grants of reads running now, by jti: minted and consumed in memory, recorded after (flow.ts readNow). */
  readGrants: Map<string, { digest: string; expiresAt: number; consumed: boolean }>;
  /** This process, as the owner of the execution leases it takes (unique per process, also across restarts). */
  replicaId: string;
  /** How long an execution lease lasts without renewal; recovery elsewhere waits that long after an owner dies. */
  leaseMs: number;
  /** Wakes everyone waiting on a request, in this process and (through signals) in other replicas. */
  wake: (requestId: string) => void;
}
