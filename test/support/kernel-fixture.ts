import {
  approvalChallenge,
  compilePolicy,
  createAuditLog,
  createNoteSigner,
  createKernel,
  createRouter,
  type Capability,
  type JsonObject,
  type Kernel,
  type KernelKeys,
  type PolicyConfig,
  type Port,
  type RequestView,
  type Router,
  type AuditLog,
  type AuditLogOptions,
  type CompiledPolicy,
  type Signals,
  KernelError,
  type Json,
  type Reply,
  type Message,
} from '../../kernel/index.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '../../gateway/db.ts';
import { reusablePglite } from './db.ts';
import { startExecutors } from './executors.ts';
import { testIsolation } from './isolation-mode.ts';
import { generateKernelKeys } from '../../gateway/keys.ts';
import { serveConnector } from '../../tools/host.ts';
import type { Connector } from '../../tools/spec.ts';
import { createTestConnector, type TestConnector } from './test-connector.ts';
import { createSoftAuthenticator, type AssertBehaviour, type SoftAuthenticator } from './authenticator.ts';

/**
 * The real kernel on a real router over in-memory PGlite, with connectors served by the real executor boundary
 * (`serveConnector`), and no HTTP: small enough for unit tests (and so for mutation testing), real enough that a
 * protection removed from the kernel or the host fails them. Approvers hold software authenticators.
 * With COUNTERSIGN_TEST_ISOLATION=process the connectors' executors run in child processes (executors.ts), as under
 * the harness; the tools' bodies, and so `connector.executions` and `notes`, stay in this process.
 */

export const FIXTURE_URL = 'http://localhost:8787';

export interface FixtureApprover {
  id: string;
  email: string;
  authenticator: SoftAuthenticator;
}

export interface KernelFixture {
  database: Database;
  keys: KernelKeys;
  router: Router;
  audit: AuditLog;
  kernel: Kernel;
  connector: TestConnector;
  /** The executor host's own router port (`connector.test`): as `serveConnector` returned it, or, with the executor in
   * a child process, the kernel's endpoint for it, which sends with the same capabilities. */
  host: Port;
  /** A test port with every kernel capability, standing in for the trusted services that would send these ops. */
  admin: Port;
  /** Every router refusal, as the audit sink would get it. */
  refusals: { from: string; to: string; op: string; reason: string }[];
  port(name: string, capabilities: readonly Capability[]): Port;
  addAgent(name: string, owner: string): Promise<string>;
  submit(agentId: string, tool: string, args: JsonObject): Promise<RequestView>;
  enroll(email: string, roles?: string[]): Promise<FixtureApprover>;
  /** A genuine assertion over the challenge derived from this request's digest and decision (no `approval.challenge`). */
  /** A genuine assertion over the challenge for this digest, decision and reason (the reason is signed too). */
  evidence(approver: FixtureApprover, digest: string, decision: 'approve' | 'reject', behaviour?: AssertBehaviour, reason?: string | null): JsonObject;
  /** `approval.decide` as the web app sends it; the reply is the request after the decision. */
  decide(requestId: string, decision: 'approve' | 'reject', evidence: JsonObject): Promise<RequestView>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  policy?: PolicyConfig;
  /** Wraps the compiled policy, e.g. to make its evaluation throw (flow.test.ts: policy errors fail closed). */
  wrapPolicy?: (policy: CompiledPolicy) => CompiledPolicy;
  /** The kernel's execution lease (default 30 s; recovery runs every half lease). */
  leaseMs?: number;
  roles?: Record<string, string[]>;
  connectors?: Connector[];
  /** A migrated database to run on (integration tests pass PostgreSQL); the caller closes it. Default: in-memory PGlite, emptied (test/support/db.ts: reusablePglite). */
  database?: Database;
  /** Wake-ups across replicas, as LISTEN/NOTIFY would carry them (default: none, one process). */
  signals?: Signals;
  /** The approval web app's origin as configured (default FIXTURE_URL); a trailing slash is allowed. */
  publicUrl?: string;
  /** The audit log's sequencer options (default: the product's). */
  audit?: AuditLogOptions;
}

export async function startKernel(options: FixtureOptions = {}): Promise<KernelFixture> {
  const shared = options.database ? null : await reusablePglite();
  const database = options.database ?? shared!;
  const keys = await generateKernelKeys();
  const audit = createAuditLog(database.db, createNoteSigner('localhost/countersign/audit', keys.privateKey, keys.publicJwk as unknown as JsonObject), options.audit);
  const refusals: KernelFixture['refusals'] = [];
  const router = createRouter(async (refusal) => void refusals.push(refusal));
  const connector = createTestConnector();
  const connectors = [connector, ...(options.connectors ?? [])];
  let host: Port;
  let children: { close(): Promise<void> } | null = null;
  let home: string | null = null;
  if (testIsolation() === 'process') {
    home = mkdtempSync(join(tmpdir(), 'countersign-fixture-'));
    writeFileSync(join(home, 'countersign.yaml'), 'policy:\n  default: approve\n');
    const executors = await startExecutors({ home, configPath: join(home, 'countersign.yaml'), connectors, publicJwk: keys.publicJwk as unknown as JsonObject });
    children = executors.remote(router);
    host = {
      name: 'connector.test',
      send: async <T extends Json = Json>(to: string, body: Message) => unwrap<T>(await router.deliver('connector.test', to, body)),
    };
  } else {
    host = serveConnector(router, connector, keys.publicKey);
    for (const served of options.connectors ?? []) serveConnector(router, served, keys.publicKey);
  }
  const roles = options.roles ?? {};
  const compiled = compilePolicy(options.policy ?? { default: 'approve', rules: [] }, { roles: Object.keys(roles) });
  const policy = options.wrapPolicy?.(compiled) ?? compiled;
  const kernel = await createKernel({ db: database.db, asyncCommitDb: database.asyncCommitDb, router, audit, keys, policy: () => policy, roles: () => roles, publicUrl: options.publicUrl ?? FIXTURE_URL, sweepMs: 60_000, signals: options.signals, leaseMs: options.leaseMs });
  await kernel.refreshTools();
  const admin = router.register('test.admin', async () => null, ['kernel:*']);

  return {
    database,
    keys,
    router,
    audit,
    kernel,
    connector,
    host,
    admin,
    refusals,
    port: (name, capabilities) => router.register(name, async () => null, capabilities),
    async addAgent(name, owner) {
      const added = await admin.send<JsonObject>('kernel', { op: 'agent.add', name, owner });
      return (added.agent as JsonObject).id as string;
    },
    submit: (agentId, tool, args) => admin.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool, args }),
    async enroll(email, roles = []) {
      const approver = await admin.send<JsonObject>('kernel', { op: 'approver.upsert', email, roles });
      const authenticator = createSoftAuthenticator({ rpId: 'localhost', origin: FIXTURE_URL });
      const credential = { ...authenticator.credentialForKernel(), transports: ['internal'], name: 'soft authenticator' };
      await admin.send('kernel', { op: 'passkey.add', approverId: approver.id as string, credential });
      return { id: approver.id as string, email, authenticator };
    },
    evidence: (approver, digest, decision, behaviour, reason = null) =>
      approver.authenticator.assert({ challenge: approvalChallenge(digest, decision, reason), rpId: 'localhost' }, behaviour) as unknown as JsonObject,
    decide: (requestId, decision, response) =>
      admin.send<RequestView & JsonObject>('kernel', { op: 'approval.decide', requestId, decision, reason: null, evidence: { kind: 'webauthn', response } }),
    async close() {
      await kernel.close();
      await audit.close();
      await children?.close();
      if (home) rmSync(home, { recursive: true, force: true });
      shared?.release();
    },
  };
}

function unwrap<T extends Json>(reply: Reply): T {
  if (!reply.ok) throw new KernelError(reply.error.code as KernelError['code'], reply.error.message);
  return reply.value as T;
}
