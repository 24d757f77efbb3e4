import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Core, Services, StartOptions } from './app.ts';
import { sendToServer, startAdminSocket, takeLock, type CommandOutput } from './admin.ts';
import { cliCommand } from './invocation.ts';

// Heavy modules (database drivers, the web app, connectors) load only for the commands that need them, so
// `countersign stdio` and `policy check` start fast and never touch the data directory.
const load = {
  app: () => import('./app.ts'),
  exampleConfig: () => import('./example-config.ts'),
  policy: () => import('./commands/policy.ts'),
  audit: () => import('./commands/audit.ts'),
  agent: () => import('./commands/agent.ts'),
  approver: () => import('./commands/approver.ts'),
  receipts: () => import('./commands/receipts.ts'),
  devicePair: () => import('../approval-web/devices/command.ts'),
  passport: () => import('./commands/passport.ts'),
  mcp: () => import('./commands/mcp.ts'),
  sandbox: () => import('./commands/sandbox.ts'),
};

const HELP = `countersign: an authority gateway for AI agents (agents act, humans authorize)

Usage:
  countersign start [--isolation process|none]       run the gateway (MCP at /mcp, web app at /); process (the
                                                     default): the kernel, each connector's executor and the edge in
                                                     their own processes, credentials only in executors; none: all
                                                     in one process (tests, development)
  countersign stdio                                  MCP on stdio, bridged to COUNTERSIGN_URL with COUNTERSIGN_TOKEN
  countersign migrate                                apply database migrations
  countersign agent add NAME --owner EMAIL [--json]  create an agent; prints its token once and client config
  countersign agent list [--json] | agent revoke NAME [--json]
  countersign approver invite EMAIL [--role ROLE] [--json]   one-time passkey enrollment link and QR code
  countersign approver grant EMAIL ROLE... [--json]  give a person roles (audited); revoke takes them away
  countersign approver revoke EMAIL ROLE... [--json] | approver list [--json]
  countersign device pair --approver EMAIL [--name NAME] [--json]
                                                     one-time code (10 minutes) to pair a Passport for an approver
  countersign passport pair --url URL --code CODE [--name NAME] [--home DIR]
  countersign passport [--url URL] [--home DIR] [--once] [--approve-all|--reject-all] [--mark-done ID] [--run-again ID] [--json]
                                                     the Passport device emulator (countersign passport --help)
  countersign policy check [FILE] [--json]           compile the config (default countersign.yaml) and report problems
  countersign policy explain --tool T --args JSON [--agent A] [--pins JSON] [--json]
  countersign policy test CASES.yaml [--json]
  countersign policy reload [--json]                   apply a changed policy and roles to the running server (it also follows the file)
  countersign audit verify [--checkpoint FILE] [--json]
                                                     re-build the log's Merkle tree, check every checkpoint and witness,
                                                     and prove the log extends the checkpoint in FILE (append-only)
  countersign audit verify --offline FILE [--key VKEY] [--json]   check a bundle or receipt with no database
  countersign audit export [--since SEQ|ISO-TIME] [--out FILE]   a bundle that verifies offline
  countersign audit receipt REQUEST_ID [--out FILE]  one request's entries with inclusion proofs and a checkpoint
  countersign audit head [--json]                    the latest signed checkpoint (also GET /audit/checkpoint)
  countersign mcp trust NAME [--json]                record a downstream MCP server's tool definitions as trusted
  countersign sandbox reset [--json]                 put the sandbox upstreams' story back as seeded (PR #42 open,
                                                     no refunds); they keep their state in COUNTERSIGN_HOME/sandbox
  countersign --version | COMMAND --help

Environment: PORT (8787), HOST (127.0.0.1), COUNTERSIGN_HOME (./.countersign), COUNTERSIGN_CONFIG (./countersign.yaml),
COUNTERSIGN_PUBLIC_URL, DATABASE_URL (unset: embedded PGlite), GITHUB_TOKEN, STRIPE_SECRET_KEY.
In a clone, run commands as \`npx countersign ...\` (or \`npm link\` once to make \`countersign\` a command).
`;

/** `countersign COMMAND --help`: the usage lines of that command, from HELP, and nothing is run. */
function helpFor(command: string): string {
  const lines = usageLines((l) => l.startsWith(`  countersign ${command}`) || l.startsWith(`  countersign ${command.split(' ')[0]} `));
  const body = lines.length ? lines : usageLines((l) => l.startsWith(`  countersign ${command.split(' ')[0]}`));
  return body.length ? `Usage:\n${body.join('\n')}\n` : HELP;
}

/** HELP's usage lines that `pick` chooses, each with the indented lines that continue its description. */
function usageLines(pick: (line: string) => boolean): string[] {
  let keep = false;
  return HELP.split('\n').filter((line) => {
    if (line.startsWith('  countersign ')) keep = pick(line);
    else if (!/^ {4,}\S/.test(line)) keep = false;
    return keep;
  });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

interface Env {
  home: string;
  configPath: string;
  /** True when COUNTERSIGN_CONFIG names the file: a missing file is then a typo, not a first start. */
  configGiven: boolean;
  port: number;
  host: string;
  databaseUrl?: string;
  publicUrl?: string;
}

function env(): Env {
  const port = Number(process.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got "${process.env.PORT}"`);
  return {
    home: resolve(process.env.COUNTERSIGN_HOME ?? '.countersign'),
    configPath: resolve(process.env.COUNTERSIGN_CONFIG || 'countersign.yaml'),
    configGiven: Boolean(process.env.COUNTERSIGN_CONFIG),
    port,
    host: process.env.HOST ?? '127.0.0.1',
    databaseUrl: process.env.DATABASE_URL || undefined,
    publicUrl: process.env.COUNTERSIGN_PUBLIC_URL || undefined,
  };
}

function options(e: Env): StartOptions {
  return { home: e.home, configPath: e.configPath, databaseUrl: e.databaseUrl, publicUrl: e.publicUrl, port: e.port, host: e.host };
}

/** Commands that read or change state: run inside the server when one is running. */
const STATEFUL = new Set(['agent', 'approver', 'audit', 'migrate', 'device']);

/** A config named by COUNTERSIGN_CONFIG must exist: writing a fresh example there would silently swap the policy. */
function checkConfig(e: Env): void {
  if (e.configGiven && !existsSync(e.configPath)) {
    throw new Error(`COUNTERSIGN_CONFIG names ${e.configPath}, which does not exist; fix the path, or unset COUNTERSIGN_CONFIG to use ./countersign.yaml (written with an example on first start)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') return print({ exitCode: 0, stdout: HELP });
    if (command === '--version' || command === '-v' || command === 'version') return print({ exitCode: 0, stdout: `countersign ${version()}\n` });
    // --help anywhere runs nothing: `migrate --help` must not migrate, `start --help` must not start.
    if (command !== 'passport' && (rest.includes('--help') || rest.includes('-h'))) {
      const sub = rest[0] && !rest[0].startsWith('-') ? `${command} ${rest[0]}` : command;
      return print({ exitCode: 0, stdout: helpFor(sub) });
    }
    const e = env();
    if (command === 'start' || command === 'policy') checkConfig(e);
    if (command === 'start') {
      const isolation = isolationMode(rest);
      return isolation === 'process' ? await startIsolated(e) : await start(e);
    }
    if (command === 'stdio') {
      const { runStdioBridge } = await import('./stdio.ts');
      // How long the bridge waits for a restarting server (default 15 s); a server slow to start may need more.
      const wait = Number(process.env.COUNTERSIGN_RECONNECT_SECONDS ?? 15);
      if (!Number.isFinite(wait) || wait < 0 || wait > 3600) throw new Error(`COUNTERSIGN_RECONNECT_SECONDS must be seconds from 0 to 3600, got "${process.env.COUNTERSIGN_RECONNECT_SECONDS}"`);
      await runStdioBridge({ url: process.env.COUNTERSIGN_URL ?? `http://127.0.0.1:${e.port}`, token: process.env.COUNTERSIGN_TOKEN ?? '', reconnectMs: wait * 1000 });
      return 0;
    }
    if (command === 'policy' && rest[0] === 'reload') {
      // Only a running server has a policy to swap; offline, the next start reads the file anyway.
      const reply = await sendToServer(e.home, argv, cliCommand());
      return print(reply ?? { exitCode: 1, stdout: `no Countersign server is running for ${e.home}; the policy is read when it starts (countersign policy check FILE checks it now)\n` });
    }
    if (command === 'policy' && rest[0] === 'explain' && !rest.includes('--offline')) {
      // A running server knows the policy in force, today's budgets and the upstream's state (pins): ask it first.
      const reply = await sendToServer(e.home, argv, cliCommand());
      if (reply) return print(reply);
    }
    if (command === 'policy') return print(await runPolicy(e, rest.filter((a) => a !== '--offline')));
    // Trust is a file in COUNTERSIGN_HOME that a running server re-reads on every call: no server round trip needed.
    if (command === 'mcp') return print(await (await load.mcp()).mcpCommand(e.home, e.configPath, rest));
    // The emulator is a separate device: it talks to the server over HTTP only, never to the data directory.
    if (command === 'passport') return await (await load.passport()).passportMain(rest);
    if (command === 'audit' && rest[0] === 'verify' && rest.includes('--offline')) return print(await runStateless(rest));
    if (command === 'sandbox') {
      if (rest[0] !== 'reset') return print({ exitCode: 2, stdout: 'usage: countersign sandbox reset [--json]\n' });
      // A running server resets its sandboxes in place; otherwise the saved files go and the next start seeds afresh.
      const viaServer = await sendToServer(e.home, argv, cliCommand());
      return print(viaServer ?? (await load.sandbox()).sandboxResetOffline(e.home, rest.includes('--json')));
    }
    if (!STATEFUL.has(command)) return print({ exitCode: 2, stdout: `unknown command "${command}"\n\n${HELP}` });
    checkConfig(e);
    const cli = cliCommand();
    const viaServer = await sendToServer(e.home, argv, cli);
    if (viaServer) return print(viaServer);
    return print(await withLocalServices(e, (services) => runState(services, argv, cli)));
  } catch (error) {
    process.stderr.write(`countersign: ${(error as Error).message}\n`);
    return 1;
  }
}

function print(output: CommandOutput): number {
  process.stdout.write(output.stdout);
  return output.exitCode;
}

async function runPolicy(e: Env, argv: string[]): Promise<CommandOutput> {
  if (!(argv[0] === 'check' && argv[1] && !argv[1].startsWith('-'))) (await load.exampleConfig()).ensureConfig(e.configPath);
  const { policyCheck, policyExplain, policyTest } = await load.policy();
  const { values, positionals } = parseArgs({
    args: argv.slice(1),
    options: { tool: { type: 'string' }, args: { type: 'string' }, agent: { type: 'string' }, pins: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const json = values.json ?? false;
  switch (argv[0]) {
    case 'check':
      return policyCheck(positionals[0] ? resolve(positionals[0]) : e.configPath, { json });
    case 'explain':
      if (!values.tool) return { exitCode: 2, stdout: 'policy explain needs --tool NAME (and --args JSON)\n' };
      return policyExplain(e.configPath, { tool: values.tool, args: values.args ?? '{}', agent: values.agent, pins: values.pins, json });
    case 'test':
      if (!positionals[0]) return { exitCode: 2, stdout: 'policy test needs a cases file: countersign policy test CASES.yaml\n' };
      return policyTest(e.configPath, positionals[0], { json });
    default:
      return { exitCode: 2, stdout: 'usage: countersign policy check|explain|test\n' };
  }
}

async function runStateless(argv: string[]): Promise<CommandOutput> {
  const { values } = parseArgs({ args: argv.slice(1), options: { offline: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } } });
  const [{ auditVerifyOffline }, { verifyEvidence }] = await Promise.all([load.audit(), load.receipts()]);
  return auditVerifyOffline(values.offline!, { json: values.json ?? false, key: values.key, verifyEvidence });
}

/** Runs one state command against running services (in the server process, or a short-lived local one). */
export async function runState(services: Core, argv: string[], cli = cliCommand()): Promise<CommandOutput> {
  const [command, sub, ...rest] = argv;
  if (command === 'policy' && sub === 'explain') {
    const { values: p } = parseArgs({ args: rest, options: { tool: { type: 'string' }, args: { type: 'string' }, agent: { type: 'string' }, pins: { type: 'string' }, json: { type: 'boolean' } } });
    if (!p.tool) return { exitCode: 2, stdout: 'policy explain needs --tool NAME (and --args JSON)\n' };
    const { createBudgetStore } = await import('../kernel/index.ts');
    const { policyExplainLive } = await load.policy();
    const describe = services.connectors.describe?.bind(services.connectors);
    return policyExplainLive({ policy: services.policy(), budgets: createBudgetStore(services.database.db), describe }, { tool: p.tool, args: p.args, agent: p.agent, pins: p.pins, json: p.json });
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      owner: { type: 'string' },
      role: { type: 'string' },
      json: { type: 'boolean' },
      since: { type: 'string' },
      out: { type: 'string' },
      approver: { type: 'string' },
      name: { type: 'string' },
      checkpoint: { type: 'string' },
    },
    allowPositionals: true,
  });
  const json = values.json ?? false;
  const db = services.database.db;
  const people = { admin: services.admin, publicUrl: services.publicUrl, database: services.database, config: services.config, configPath: services.configPath };
  if (command === 'migrate') return { exitCode: 0, stdout: json ? '{"migrated":true}\n' : 'migrations applied\n' };
  // Each command loads only its own module: an agent list has no use for QR codes, audit proofs or exports.
  if (command === 'agent') {
    const { agentAdd, agentList, agentRevoke } = await load.agent();
    if (sub === 'add') {
      if (!positionals[0] || !values.owner) return { exitCode: 2, stdout: 'usage: countersign agent add NAME --owner EMAIL [--json]\n' };
      return agentAdd(services, { name: positionals[0], owner: values.owner, json, cli });
    }
    if (sub === 'list') return agentList(services, { json, cli });
    if (sub === 'revoke') {
      if (!positionals[0]) return { exitCode: 2, stdout: 'usage: countersign agent revoke NAME\n' };
      return agentRevoke(services, { name: positionals[0], json });
    }
  }
  if (command === 'approver') {
    const approver = await load.approver();
    if (sub === 'invite') {
      if (!positionals[0]) return { exitCode: 2, stdout: 'usage: countersign approver invite EMAIL [--role ROLE] [--json]\n' };
      return approver.approverInviteOrGrant(people, { email: positionals[0], role: values.role, json, cli });
    }
    if (sub === 'grant' || sub === 'revoke') {
      const [email, ...roles] = positionals;
      if (!email || roles.length === 0) return { exitCode: 2, stdout: `usage: ${cli} approver ${sub} EMAIL ROLE... [--json]\n` };
      const run = sub === 'grant' ? approver.approverGrant : approver.approverRevoke;
      return run(people, { email, roles, json, cli });
    }
    if (sub === 'list') return approver.approverList(people, { json });
  }
  if (command === 'device' && sub === 'pair') {
    if (!values.approver) return { exitCode: 2, stdout: 'usage: countersign device pair --approver EMAIL [--name NAME] [--json]\n' };
    const { devicePair } = await load.devicePair();
    return devicePair(db, services.admin, services.publicUrl, { email: values.approver, name: values.name ?? null, json, cli });
  }
  if (command === 'audit') {
    const { auditExport, auditHead, auditReceipt, auditVerify } = await load.audit();
    if (sub === 'verify') return auditVerify(services, { json, checkpoint: values.checkpoint });
    if (sub === 'export') return auditExport(services, { since: values.since, out: values.out, json });
    if (sub === 'head') return auditHead(services, { json });
    if (sub === 'receipt') {
      if (!positionals[0]) return { exitCode: 2, stdout: 'usage: countersign audit receipt REQUEST_ID [--out FILE] [--json]\n' };
      return auditReceipt(services, positionals[0], { out: values.out, json });
    }
  }
  if (command === 'policy' && sub === 'reload') {
    try {
      const result = await services.reloadPolicy('admin');
      return { exitCode: 0, stdout: json ? `${JSON.stringify(result)}\n` : `${result.message}\n` };
    } catch (error) {
      return { exitCode: 1, stdout: `${(error as Error).message}\nthe running policy is unchanged\n` };
    }
  }
  if (command === 'sandbox' && sub === 'reset') return (await load.sandbox()).sandboxResetRunning(services.connectors, json);
  return { exitCode: 2, stdout: `unknown command "${argv.join(' ')}"\n\n${HELP}` };
}

/**
 * The kernel, database and audit log for one command while no server runs: no connectors (no sandbox upstreams, no
 * downstream MCP servers spawned, nothing sent upstream) and no web app (no client bundle built). A command needs none
 * of them, and starting them made every offline command take seconds.
 */
async function withLocalServices(e: Env, run: (services: Core) => Promise<CommandOutput>): Promise<CommandOutput> {
  const release = e.databaseUrl ? () => {} : takeLock(e.home, 'cli');
  let services: Core | undefined;
  const none = { sandbox: false, names: [], sandboxes: {}, downstream: () => [], close: async () => {} };
  try {
    services = await (await load.app()).createCore(options(e), () => none);
    return await run(services);
  } finally {
    // What the command queued for the audit log enters the tree (and the witnesses) before exit: the queue survives
    // without it (the next process's sequencer integrates it), but could wait there for days, unsigned by a checkpoint.
    await services?.audit.sync().catch((error: Error) => process.stderr.write(`countersign: audit: the entries of this command wait in the queue for the next start (${error.message})\n`));
    await services?.close();
    release();
  }
}

function busyPort(e: Env): Error {
  return new Error(
    `port ${e.port} on ${e.host} is already in use (another Countersign, or another program, listens there); ` +
      `stop it, or start on another port: PORT=${e.port + 1} npm start`,
  );
}

/** What to do next: add an agent on a fresh install; afterwards, where to see them. */
async function nextStep(services: Services): Promise<string> {
  const agents = (await services.admin.send('kernel', { op: 'agent.list' })) as unknown as unknown[];
  return nextStepLine(agents.length);
}

function nextStepLine(agents: number): string {
  const cli = cliCommand();
  return agents === 0 ? `Next: ${cli} agent add my-agent --owner you@example.com\n` : `Agents: ${agents} (${cli} agent list)\n`;
}

/** Fails in a moment, before the database and connectors start, when something already listens on the port. */
async function checkPortFree(e: Env): Promise<void> {
  const { createServer } = await import('node:net');
  await new Promise<void>((ok, fail) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => fail(error.code === 'EADDRINUSE' ? busyPort(e) : error));
    probe.listen(e.port, e.host, () => probe.close(() => ok()));
  });
}

/**
 * `--isolation process|none` (or COUNTERSIGN_ISOLATION). process, the default: credentials only in executor processes,
 * the process facing agents and browsers holds none. none: everything in one process (tests, development, tiny setups).
 */
export function isolationMode(argv: string[]): 'none' | 'process' {
  const { values } = parseArgs({ args: argv, options: { isolation: { type: 'string' } }, allowPositionals: true });
  const mode = values.isolation || process.env.COUNTERSIGN_ISOLATION || 'process';
  if (mode !== 'none' && mode !== 'process') throw new Error(`--isolation must be none or process, got "${mode}"`);
  return mode;
}

/** `start --isolation process`: the supervisor (gateway/isolation/supervisor.ts) runs kernel, executors and edge. */
async function startIsolated(e: Env): Promise<number> {
  if (e.port !== 0) await checkPortFree(e);
  const release = e.databaseUrl ? () => {} : takeLock(e.home, 'server');
  (await load.exampleConfig()).ensureConfig(e.configPath);
  const { supervise } = await import('./isolation/supervisor.ts');
  const { createLogger } = await import('./operator/log.ts');
  // The supervisor logs the set's start and stop; the kernel process logs each request (same stdout).
  const log = createLogger();
  let supervisor;
  let banner = '';
  let started: Record<string, unknown> = {};
  try {
    supervisor = await supervise({
      configPath: e.configPath,
      port: e.port,
      host: e.host,
      // Children find home and config by absolute path, wherever they run.
      env: { ...process.env, COUNTERSIGN_HOME: e.home, COUNTERSIGN_CONFIG: e.configPath, PORT: String(e.port), HOST: e.host },
      onListening: ({ port, ready, sandbox, pids }) => {
        const note = sandbox ? ' (SANDBOX: connectors without credentials talk to local sandbox upstreams)' : '';
        banner =
          `Countersign listening on http://${e.host}:${port}${note}\n` +
          `  MCP endpoint: ${ready.publicUrl}/mcp\n  Approvals:    ${ready.publicUrl}/\n` +
          `  Database:     ${ready.database}\n  Config:       ${e.configPath}\n` +
          `  Isolation:    process (${pids.map((p) => `${p.name} ${p.pid}`).join(', ')})\n`;
        started = { url: ready.publicUrl, port, database: ready.database, sandbox, pid: process.pid, isolation: 'process', processes: pids.map(({ name, pid }) => ({ name, pid })) };
      },
    });
  } catch (error) {
    release();
    throw error;
  }
  // The agents live in the kernel process: ask it over the admin socket, as the CLI would.
  const listed = await sendToServer(e.home, ['agent', 'list', '--json'], cliCommand()).catch(() => null);
  const agents = listed?.exitCode === 0 ? ((JSON.parse(listed.stdout) as { agents: unknown[] }).agents.length) : null;
  process.stdout.write(banner + (agents === null ? '' : nextStepLine(agents)));
  log.info({ event: 'server.started', ...started }, `Countersign started on ${String(started.url)} (isolation: process)`);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  log.info({ event: 'server.stopping', signal }, `Countersign stopping (${signal}): the edge stops accepting, calls in flight finish, the kernel stops last`);
  await supervisor.stop();
  release();
  log.info({ event: 'server.stopped' }, 'Countersign stopped');
  log.flush();
  return 0;
}

async function start(e: Env): Promise<number> {
  if (e.port !== 0) await checkPortFree(e);
  const release = e.databaseUrl ? () => {} : takeLock(e.home, 'server');
  const { serveHttp, drainHttp } = await import('./edge.ts');
  const { createLogger } = await import('./operator/log.ts');
  const log = createLogger();
  const services = await (await load.app()).createServices({ ...options(e), watchConfig: true, log });
  const admin = await startAdminSocket(e.home, (argv, cli) => runState(services, argv, cli));
  const server = serveHttp(services.app.fetch, { port: e.port, hostname: e.host, limits: services.config.limits });
  try {
    await new Promise<void>((ok, fail) => {
      server.once('listening', () => ok());
      server.once('error', (error: NodeJS.ErrnoException) => fail(error.code === 'EADDRINUSE' ? busyPort(e) : error));
    });
  } catch (error) {
    admin.close();
    await services.close();
    release();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : e.port;
  const sandbox = services.sandbox ? ' (SANDBOX: connectors without credentials talk to local sandbox upstreams)' : '';
  process.stdout.write(
    `Countersign listening on http://${e.host}:${port}${sandbox}\n` +
      `  MCP endpoint: ${services.publicUrl}/mcp\n  Approvals:    ${services.publicUrl}/\n` +
      `  Database:     ${services.database.kind} (${services.database.location})\n` +
      `  Config:       ${e.configPath}\n` +
      services.connectors.downstream().map((d) => `  MCP server ${d.name}: ${d.state}${d.state === 'up' ? ` (${d.tools} tools)` : d.error ? ` (${d.error}; retrying)` : ''}\n`).join('') +
      (await nextStep(services)),
  );
  log.info({ event: 'server.started', url: services.publicUrl, port, database: services.database.kind, sandbox: services.sandbox, pid: process.pid }, `Countersign started on ${services.publicUrl}`);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  log.info({ event: 'server.stopping', signal }, `Countersign stopping (${signal}): finishing requests in flight`);
  await drainHttp(server, 5000, services.calls);
  admin.close();
  await services.close();
  release();
  log.info({ event: 'server.stopped' }, 'Countersign stopped');
  log.flush();
  return 0;
}
