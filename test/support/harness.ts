import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerType } from '@hono/node-server';
import { serveHttp } from '../../gateway/edge.ts';
import type { ApprovalDecision, JsonObject, Port, RequestView } from '../../kernel/index.ts';
import { createServices, type Services, type StartOptions } from '../../gateway/app.ts';
import type { Connector } from '../../tools/spec.ts';
import { freshDatabase } from './db.ts';
import { startExecutors } from './executors.ts';
import { testIsolation } from './isolation-mode.ts';
import { createSoftAuthenticator, type AssertBehaviour, type SoftAuthenticator } from './authenticator.ts';

/**
 * A whole Countersign in one process for tests: a fresh database (PGlite, or PostgreSQL with TEST_DATABASE_URL),
 * its own COUNTERSIGN_HOME and config, real kernel, router, MCP gateway and web app on a free port. Approvers hold
 * software authenticators that sign genuine WebAuthn assertions over the kernel's challenges.
 */

export interface TestApprover {
  id: string;
  email: string;
  authenticator: SoftAuthenticator;
}

export interface Stack {
  /** Where clients reach the stack: `StackOptions.publicUrl` when given, else its own listen address. */
  url: string;
  /** The address the stack's HTTP server listens on; differs from `url` when a proxy fronts it. */
  listenUrl: string;
  services: Services;
  /** The stack's COUNTERSIGN_HOME and countersign.yaml, as a CLI command run beside it would see them. */
  home: string;
  configPath: string;
  /** A router port with every kernel capability, standing in for trusted services in tests. */
  port: Port;
  /** The connectors' executor processes with COUNTERSIGN_TEST_ISOLATION=process; empty when they run in this one. */
  executorPids: number[];
  addAgent(name: string, owner: string): Promise<{ token: string; agentId: string }>;
  /** Submits a request as the agent, the way the MCP gateway does. */
  submit(agentId: string, tool: string, args: JsonObject): Promise<RequestView>;
  /** Holds until the request is final (or `waitMs` passes) and returns it. */
  awaitRequest(agentId: string, requestId: string, waitMs?: number): Promise<RequestView>;
  enrollApprover(email: string, roles?: string[]): Promise<TestApprover>;
  /** Decides with a genuine assertion over the kernel's challenge for this request and decision. */
  decide(approver: TestApprover, requestId: string, decision: ApprovalDecision, reason?: string, behaviour?: AssertBehaviour): Promise<RequestView>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** The whole countersign.yaml. */
  config: string;
  /** Connectors to serve instead of the default sandboxed GitHub and Stripe. */
  connectors?: Connector[];
  /** The public URL when something fronts the stack (a proxy in tests), as behind a reverse proxy in production. */
  publicUrl?: string;
  /** DNS and transport for outbound requests (push, webhooks); the address checks still run. */
  egress?: StartOptions['egress'];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let stackCount = 0;

export async function startStack(options: StackOptions): Promise<Stack> {
  const home = mkdtempSync(join(tmpdir(), 'countersign-test-'));
  const configPath = join(home, 'countersign.yaml');
  writeFileSync(configPath, options.config);
  const database = await freshDatabase();
  // COUNTERSIGN_TEST_ISOLATION=process: the connectors' executors run in child processes (executors.ts). Not while the
  // database opens: that blocks this event loop for seconds, and with it the upstreams a test serves from here (an MCP
  // server the mcp executor must reach at start to trust it).
  const executors = testIsolation() === 'process' ? await startExecutors({ home, configPath, connectors: options.connectors }) : null;
  const listenPort = await freePort();
  const publicUrl = options.publicUrl ?? `http://localhost:${listenPort}`;
  const services = await createServices(
    { home, configPath, database, publicUrl, port: listenPort, host: '127.0.0.1', connectors: options.connectors, egress: options.egress },
    executors?.remote,
  );
  await executors?.check(services);
  const server: ServerType = serveHttp(services.app.fetch, { port: listenPort, hostname: '127.0.0.1', limits: services.config.limits });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const port = services.router.register(`test.${++stackCount}`, async () => null, ['kernel:*', 'web:*', 'gateway:*']);

  const stack: Stack = {
    url: publicUrl,
    listenUrl: `http://127.0.0.1:${listenPort}`,
    services,
    home,
    configPath,
    port,
    executorPids: executors?.pids ?? [],
    async addAgent(name, owner) {
      const added = await port.send<JsonObject>('kernel', { op: 'agent.add', name, owner });
      return { token: added.token as string, agentId: (added.agent as JsonObject).id as string };
    },
    submit: (agentId, tool, args) => port.send<RequestView & JsonObject>('kernel', { op: 'request.submit', agentId, tool, args }),
    awaitRequest: (agentId, requestId, waitMs = 5000) =>
      port.send<RequestView & JsonObject>('kernel', { op: 'request.await', requestId, agentId, waitMs }),
    async enrollApprover(email, roles = []) {
      const approver = await port.send<JsonObject>('kernel', { op: 'approver.upsert', email, roles });
      const authenticator = createSoftAuthenticator({ rpId: 'localhost', origin: publicUrl });
      const credential = authenticator.credentialForKernel();
      await port.send('kernel', {
        op: 'passkey.add',
        approverId: approver.id as string,
        credential: { ...credential, transports: ['internal'], name: 'soft authenticator' },
      });
      return { id: approver.id as string, email, authenticator };
    },
    async decide(approver, requestId, decision, reason, behaviour) {
      const challenge = await port.send<JsonObject>('kernel', { op: 'approval.challenge', requestId, decision, approverId: approver.id, reason: reason ?? null });
      const response = approver.authenticator.assert({ challenge: challenge.challenge as string, rpId: 'localhost' }, behaviour);
      return port.send<RequestView & JsonObject>('kernel', {
        op: 'approval.decide',
        requestId,
        decision,
        reason: reason ?? null,
        evidence: { kind: 'webauthn', response: response as unknown as JsonObject },
      });
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
      await database.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return stack;
}

