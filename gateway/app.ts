import { dirname, resolve } from 'node:path';
import type { Edge } from './edge-app.ts';
import type { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import {
  CAPABILITIES,
  compilePolicy,
  createAuditLog,
  createNoteSigner,
  latestCheckpoint,
  createKernel,
  createRouter,
  type AuditLog,
  type NoteSigner,
  type CompiledPolicy,
  type JsonObject,
  type Kernel,
  type KernelKeys,
  type Port,
  type Router,
} from '../kernel/index.ts';
import { kernelMeta } from './schema.ts';
import { auditOrigin, readVerifierKeys } from './audit/identity.ts';
import { createWitnesses, parseWitnesses, type Witnesses } from './audit/witness.ts';
import { checkHomeDatabase, openDatabase, migrate, rememberHomeDatabase, type Database } from './db.ts';
import { loadOrCreateKernelKeys, loadOrCreateOAuthSigningKey } from './keys.ts';
import { wakeSignals } from './wake.ts';
import { loadConfig, type Config } from './config.ts';
import { compileChecked, createPolicyReloader, policyProblems, type ReloadResult } from './policy-reload.ts';
import { ensureConfig } from './example-config.ts';
import type { RunningConnectors } from './connectors.ts';
import type { Connector } from '../tools/spec.ts';
import { serveWebStore } from '../approval-web/store.ts';
import { loadOrCreateVapidKeys, registerNotifier } from '../approval-web/notify/index.ts';
import { registerAuditReader } from './audit-reader/index.ts';
import type { Resolver } from '../net/egress.ts';
import { createOperatorFeed, createOperatorMetrics, serveOperatorMetrics, silentLogger, type Logger, type OperatorMetrics } from './operator/index.ts';

export interface StartOptions {
  home: string;
  configPath: string;
  databaseUrl?: string;
  /** A database opened by the caller (tests); overrides home and databaseUrl. */
  database?: Database;
  publicUrl?: string;
  port: number;
  host: string;
  /** Connectors given by the caller (tests) instead of those from config and environment. */
  connectors?: Connector[];
  /** The environment `env:NAME` references in the config resolve from (default process.env). */
  configEnv?: NodeJS.ProcessEnv;
  /** Tests only: DNS resolution and a transport for outbound requests (push, webhooks); the address checks still run. */
  egress?: { resolve?: Resolver; fetch?: (url: string, init: RequestInit) => Promise<Response> };
  /** Follow the config file: policy and roles changes are applied as they are saved (`countersign start` does). */
  watchConfig?: boolean;
  /** The operator's log (gateway/operator/log.ts); default: silent (tests, one-shot commands). */
  log?: Logger;
}

/** The trusted side of a running Countersign: database, kernel key, audit, router, kernel, connectors, admin port. */
export interface Core {
  config: Config;
  /** The config file the services were started from (commands name it in their advice). */
  configPath: string;
  database: Database;
  keys: KernelKeys;
  audit: AuditLog;
  /** Signs checkpoints and export headers as the log's origin with the kernel key. */
  auditSigner: NoteSigner;
  witnesses: Witnesses;
  router: Router;
  kernel: Kernel;
  /** A port with the admin CLI's capabilities (agents, approvers, requests). */
  admin: Port;
  publicUrl: string;
  sandbox: boolean;
  connectors: RunningConnectors;
  /** Re-reads the config: a policy or roles change is checked, swapped in and audited (`countersign policy reload`). */
  reloadPolicy(actor: string): Promise<ReloadResult>;
  /** The policy in force now (the last config that checked), for `policy explain` against the running server. */
  policy(): CompiledPolicy;
  /**
   * Asks every connector for its tools again, for routing and for policy checks; returns what the policy gets wrong
   * about them (`file: problem` lines, empty when it fits). With executors in other processes, run once all serve.
   */
  refreshTools(): Promise<string[]>;
  /** The VAPID public key when Web Push is on, for the web app's "Enable notifications". */
  vapidPublicKey: string | null;
  /** The built-in authorization server's ID-token signing key (keys/oauth-signing.jwk.json); null with `auth: external`. */
  oauthSigningKey: JsonObject | null;
  /** The operator's log and the request metrics /metrics serves beside the HTTP ones. */
  log: Logger;
  metrics: OperatorMetrics;
  close(): Promise<void>;
}

/** Everything a running Countersign holds in one process; tests reach into it, the CLI uses `admin` for state commands. */
export interface Services extends Core {
  app: Hono;
  /** The MCP endpoint's tool calls, for drainHttp. */
  calls: Edge['calls'];
}

/**
 * Wires everything into one process (`--isolation none`, tests): the core and the edge's Hono app beside it. Tests
 * with COUNTERSIGN_TEST_ISOLATION=process pass `remoteConnectors`, whose executors are child processes.
 */
export async function createServices(options: StartOptions, remoteConnectors?: (router: Router) => RunningConnectors): Promise<Services> {
  const core = await createCore(options, remoteConnectors);
  // Loaded here, not at the top: a CLI command's core (gateway/cli.ts withLocalServices) needs no web app.
  const { createEdgeApp, edgeConfig, edgeSettings } = await import('./edge-app.ts');
  const edge = createEdgeApp({
    settings: edgeSettings(edgeConfig(core.config), { publicUrl: core.publicUrl, host: options.host, listenPort: options.port, sandbox: core.sandbox, vapidPublicKey: core.vapidPublicKey, oauthSigningKey: core.oauthSigningKey }),
    router: core.router,
    health: async () => {
      await core.database.db.select().from(kernelMeta).where(eq(kernelMeta.key, 'kernel.publicKeys'));
      const mcp = core.connectors.downstream().map(({ name, state, tools }) => ({ name, state, tools }));
      return { database: core.database.kind, sandbox: core.connectors.sandbox, ...(mcp.length ? { mcp } : {}) };
    },
    resolve: options.egress?.resolve,
    egressFetch: options.egress?.fetch,
  });
  return {
    ...core,
    app: edge.app,
    calls: edge.calls,
    async close() {
      await edge.close();
      await core.close();
    },
  };
}

/**
 * Database, keys, audit, router, connectors, kernel, the audit reader, the notifier and the web app's tables. With
 * `remoteConnectors`, connectors are not started here: each name becomes an endpoint whose executor lives in its own
 * process (gateway/isolation/), and the caller connects them.
 */
export async function createCore(options: StartOptions, remoteConnectors?: (router: Router) => RunningConnectors): Promise<Core> {
  ensureConfig(options.configPath);
  const config = loadConfig(options.configPath, options.configEnv);
  let policy: CompiledPolicy = compilePolicy(config.policy, { roles: Object.keys(config.roles ?? {}) });
  const publicUrl = (options.publicUrl ?? config.publicUrl ?? `http://localhost:${options.port}`).replace(/\/$/, '');

  if (!options.database) checkHomeDatabase(resolve(options.home), options.databaseUrl);
  const database = options.database ?? (await openDatabase({ url: options.databaseUrl, dataDir: resolve(options.home, 'db') }));
  if (!options.database) rememberHomeDatabase(resolve(options.home), options.databaseUrl);
  await migrate(database);
  const keys = await loadOrCreateKernelKeys(options.home);
  const db = database.db;
  await rememberPublicKey(database, keys);

  const auditSigner = createNoteSigner(await auditOrigin(db, publicUrl), keys.privateKey, keys.publicJwk as JsonObject);
  const report = (message: string) => process.stderr.write(`countersign: audit: ${message}\n`);
  const witnesses = createWitnesses(db, parseWitnesses(config.audit.witnesses, options.home, dirname(resolve(options.configPath))), {
    verifierKey: auditSigner.verifierKey,
    latest: () => latestCheckpoint(db),
    onError: report,
  });
  // The operator hears each request state change once the sequencer integrates it (gateway/operator/feed.ts).
  const log = options.log ?? silentLogger();
  const metrics = createOperatorMetrics(db);
  const feed = createOperatorFeed({ db, publicUrl, log, metrics });
  const audit = createAuditLog(db, auditSigner, {
    onCheckpoint: (checkpoint, entries) => {
      witnesses.publish(checkpoint);
      feed.onBatch(entries);
    },
    onError: (error) => report(`a sequencer batch failed and will be retried: ${(error as Error).message}`),
  });
  // A witness that disagrees with the database at start means a rollback or a fork: say so before serving.
  for (const problem of await witnesses.check()) report(`WITNESS DISAGREES: ${problem}; run countersign audit verify`);
  const router = createRouter(async (refusal) => {
    await audit.append([{ kind: 'router.refused', requestId: null, actor: refusal.from, data: { ...refusal } }]).catch(() => {});
  });
  let refreshTools = () => {};
  const connectors = remoteConnectors
    ? remoteConnectors(router)
    : options.connectors
      ? (await import('./connectors.ts')).serveAll(router, options.connectors, keys)
      : await (await import('./connectors.ts')).startConnectors(router, config, keys, { home: options.home, configDir: dirname(resolve(options.configPath)), onToolsChanged: () => refreshTools() });
  const kernel = await createKernel({
    db,
    asyncCommitDb: database.asyncCommitDb,
    router,
    audit,
    keys,
    policy: () => policy,
    roles: () => config.roles ?? {},
    publicUrl,
    leaseMs: config.leaseSeconds * 1000,
    // Wake-ups cross replicas through PostgreSQL. Embedded PGlite has one process, this one, which the kernel already
    // wakes itself: a NOTIFY there would only come back here, at a statement per write (0.3 ms on the bench machine).
    signals: database.kind === 'postgres' ? wakeSignals(database) : undefined,
  });
  // With executors in their own processes, their tools are listed, and the policy checked against them, once all serve
  // (the supervisor's `check`; the test harness's). Checked here against no tools, a test connector's names would not count.
  let offered = remoteConnectors ? [] : await kernel.refreshTools();
  // A policy naming a tool nobody offers, or not type-checking against one, would silently misroute or deny: refuse.
  if (!remoteConnectors) compileChecked(config, options.configPath, offered);
  const reloader = createPolicyReloader({
    configPath: options.configPath,
    env: options.configEnv,
    config,
    current: () => policy,
    swap: (next) => (policy = next),
    offered: () => offered,
    audit,
    report: (line) => {
      process.stderr.write(`countersign: ${line}\n`);
      log.warn({ event: 'policy.reload_failed' }, line);
    },
  });
  if (options.watchConfig) reloader.watch();
  refreshTools = () => void kernel.refreshTools().then((tools) => (offered = tools)).catch(() => {});
  registerAuditReader(router, db, { verifierKeys: async () => [auditSigner.verifierKey, ...(await readVerifierKeys(db))] });
  serveWebStore(router, db);
  serveOperatorMetrics(router, metrics);

  const admin = router.register('admin', async () => null, CAPABILITIES.admin);
  const vapid = loadOrCreateVapidKeys(options.home);
  registerNotifier(router, { db, publicUrl, webhooks: config.notify.webhooks, vapid: config.notify.webPush ? vapid : null, ...options.egress });

  // Requests a crash left mid-execution are reconciled in the background, once everything is listening.
  setTimeout(() => void kernel.recover().catch(() => {}), 0).unref();

  return {
    config,
    configPath: options.configPath,
    database,
    keys,
    audit,
    auditSigner,
    witnesses,
    router,
    kernel,
    admin,
    publicUrl,
    sandbox: connectors.sandbox,
    connectors,
    reloadPolicy: (actor) => reloader.reload(actor),
    policy: () => policy,
    async refreshTools() {
      offered = await kernel.refreshTools();
      return policyProblems(config, offered).map((problem) => `${options.configPath}: ${problem}`);
    },
    vapidPublicKey: config.notify.webPush ? vapid.publicKey : null,
    oauthSigningKey: config.auth === 'external' ? null : ((await loadOrCreateOAuthSigningKey(options.home)) as JsonObject),
    log,
    metrics,
    async close() {
      reloader.close();
      await kernel.close();
      await audit.close();
      await feed.settled();
      await witnesses.close();
      await connectors.close();
      if (!options.database) await database.close();
    },
  };
}

/** Keeps every kernel public key ever used, so old grants and checkpoints still verify after a key change. */
async function rememberPublicKey(database: Database, keys: KernelKeys): Promise<void> {
  const [row] = await database.db.select().from(kernelMeta).where(eq(kernelMeta.key, 'kernel.publicKeys'));
  const known = (row?.value ?? []) as JsonObject[];
  if (known.some((jwk) => jwk.x === keys.publicJwk.x)) return;
  const value = [...known, keys.publicJwk as JsonObject];
  await database.db
    .insert(kernelMeta)
    .values({ key: 'kernel.publicKeys', value })
    .onConflictDoUpdate({ target: kernelMeta.key, set: { value } });
}
