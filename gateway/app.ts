import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import {
  compilePolicy,
  createAuditLog,
  createJwsSigner,
  createKernel,
  createRouter,
  schema,
  type AuditLog,
  type CompiledPolicy,
  type JsonObject,
  type Kernel,
  type KernelKeys,
  type Port,
  type Principal,
  type Router,
} from '../kernel/index.ts';
import { readKernelPublicKeys } from './audit/bundle.ts';
import { openDatabase, migrate, type Database } from './db.ts';
import { loadOrCreateKernelKeys } from './keys.ts';
import { loadConfig, type Config } from './config.ts';
import { EXAMPLE_CONFIG } from './example-config.ts';
import { serveAll, startConnectors, type RunningConnectors } from './connectors.ts';
import type { Connector } from '../tools/spec.ts';
import { createMcpHandler } from './mcp/index.ts';
import { oauthMetadataRoute } from './mcp/metadata.ts';
import { APPROVAL_WEB_CAPABILITIES, createApprovalWeb, loadOrCreateVapidKeys, registerNotifier } from '../approval-web/index.ts';
import { createMetrics } from './metrics.ts';
import { registerAuditReader } from './audit-reader/index.ts';

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
}

/** Everything a running Countersign holds; tests reach into it, the CLI uses `admin` for state commands. */
export interface Services {
  config: Config;
  database: Database;
  keys: KernelKeys;
  audit: AuditLog;
  router: Router;
  kernel: Kernel;
  /** A port with the admin CLI's capabilities (agents, approvers, requests). */
  admin: Port;
  publicUrl: string;
  sandbox: boolean;
  connectors: RunningConnectors;
  app: Hono;
  close(): Promise<void>;
}

/** Writes the commented example config on first start, so a newcomer has something to read and edit. */
export function ensureConfig(configPath: string): void {
  if (existsSync(configPath)) return;
  mkdirSync(dirname(resolve(configPath)), { recursive: true });
  writeFileSync(configPath, EXAMPLE_CONFIG, { flag: 'wx' });
}

/** Wires database, keys, audit, router, connectors, kernel, the MCP gateway and the web app into one Hono app. */
export async function createServices(options: StartOptions): Promise<Services> {
  ensureConfig(options.configPath);
  const config = loadConfig(options.configPath);
  const policy: CompiledPolicy = compilePolicy(config.policy, { roles: Object.keys(config.roles ?? {}) });
  const publicUrl = (options.publicUrl ?? config.publicUrl ?? `http://localhost:${options.port}`).replace(/\/$/, '');

  const database = options.database ?? (await openDatabase({ url: options.databaseUrl, dataDir: resolve(options.home, 'db') }));
  await migrate(database);
  const keys = await loadOrCreateKernelKeys(options.home);
  const db = database.db;
  await rememberPublicKey(database, keys);

  const audit = createAuditLog(db, createJwsSigner(keys.privateKey, keys.publicJwk as JsonObject));
  const router = createRouter(async (refusal) => {
    await audit.append([{ kind: 'router.refused', requestId: null, actor: refusal.from, data: { ...refusal } }]).catch(() => {});
  });
  const connectors = options.connectors ? serveAll(router, options.connectors, keys) : await startConnectors(router, config, keys);
  const kernel = await createKernel({
    db,
    router,
    audit,
    keys,
    policy: () => policy,
    roles: () => config.roles ?? {},
    publicUrl,
    signals: {
      publish: (id) => database.notify('countersign_wake', id),
      subscribe: (onRequest) => database.listen('countersign_wake', onRequest),
    },
  });
  await kernel.refreshTools();
  registerAuditReader(router, db, { publicJwks: () => readKernelPublicKeys(db) });

  const admin = router.register('admin', async () => null, ['kernel:*', 'web:*']);
  const gatewayPort = router.register('gateway', async () => null, ['kernel:agent.authenticate', 'kernel:agent.resolve', 'kernel:tools.list', 'kernel:request.*']);
  const metrics = createMetrics();
  const app = new Hono();
  app.use('*', metrics.middleware);
  app.get('/healthz', async (c) => {
    await db.select().from(schema.kernelMeta).where(eq(schema.kernelMeta.key, 'kernel.publicKeys'));
    return c.json({ status: 'ok', database: database.kind, sandbox: connectors.sandbox });
  });
  app.get('/metrics', (c) => c.text(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  app.route('/', oauthMetadataRoute({ publicUrl, oauth: config.oauth }));
  const mcp = createMcpHandler({
    port: gatewayPort,
    holdSeconds: config.holdSeconds ?? 25,
    publicUrl,
    host: options.host,
    listenPort: options.port,
    // OAuth resource-server mode: a verified access token's subject names the agent it acts as.
    oauth: config.oauth && {
      ...config.oauth,
      principalFor: (subject: string) => gatewayPort.send('kernel', { op: 'agent.resolve', name: subject }) as Promise<Principal | null>,
    },
    rateLimitPerMinute: config.rateLimit?.perMinute,
  });
  app.all('/mcp', (c) => mcp.handle(c));
  const vapid = loadOrCreateVapidKeys(options.home);
  registerNotifier(router, { db, publicUrl, webhooks: config.notify.webhooks, vapid: config.notify.webPush ? vapid : null });
  const web = createApprovalWeb({
    port: router.register('web', async () => null, APPROVAL_WEB_CAPABILITIES),
    db,
    publicUrl,
    sandbox: connectors.sandbox,
    vapidPublicKey: config.notify.webPush ? vapid.publicKey : null,
  });
  app.route('/', web);

  // Requests a crash left mid-execution are reconciled in the background, once everything is listening.
  setTimeout(() => void kernel.recover().catch(() => {}), 0).unref();

  return {
    config,
    database,
    keys,
    audit,
    router,
    kernel,
    admin,
    publicUrl,
    sandbox: connectors.sandbox,
    connectors,
    app,
    async close() {
      await mcp.close();
      await kernel.close();
      await audit.close();
      await connectors.close();
      if (!options.database) await database.close();
    },
  };
}

/** Keeps every kernel public key ever used, so old grants and checkpoints still verify after a key change. */
async function rememberPublicKey(database: Database, keys: KernelKeys): Promise<void> {
  const [row] = await database.db.select().from(schema.kernelMeta).where(eq(schema.kernelMeta.key, 'kernel.publicKeys'));
  const known = (row?.value ?? []) as JsonObject[];
  if (known.some((jwk) => jwk.x === keys.publicJwk.x)) return;
  const value = [...known, keys.publicJwk as JsonObject];
  await database.db
    .insert(schema.kernelMeta)
    .values({ key: 'kernel.publicKeys', value })
    .onConflictDoUpdate({ target: schema.kernelMeta.key, set: { value } });
}
