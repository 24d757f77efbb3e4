import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Services, StartOptions } from './app.ts';
import { sendToServer, startAdminSocket, takeLock, type CommandOutput } from './admin.ts';

// Heavy modules (database drivers, the web app, connectors) load only for the commands that need them, so
// `countersign stdio` and `policy check` start fast and never touch the data directory.
const load = {
  app: () => import('./app.ts'),
  policy: () => import('./commands/policy.ts'),
  audit: () => import('./commands/audit.ts'),
  agent: () => import('./commands/agent.ts'),
  invite: () => import('../approval-web/invite-command.ts'),
  receipts: () => import('./commands/receipts.ts'),
  devicePair: () => import('../approval-web/devices/command.ts'),
  passport: () => import('./commands/passport.ts'),
};

const HELP = `countersign: an authority gateway for AI agents (agents act, humans authorize)

Usage:
  countersign start                                  run the gateway (MCP at /mcp, web app at /)
  countersign stdio                                  MCP on stdio, bridged to COUNTERSIGN_URL with COUNTERSIGN_TOKEN
  countersign migrate                                apply database migrations
  countersign agent add NAME --owner EMAIL [--json]  create an agent; prints its token once and client config
  countersign agent list [--json] | agent revoke NAME [--json]
  countersign approver invite EMAIL [--role ROLE] [--json]   one-time passkey enrollment link and QR code
  countersign device pair --approver EMAIL [--name NAME] [--json]
                                                     one-time code (10 minutes) to pair a Passport for an approver
  countersign passport pair --url URL --code CODE [--name NAME] [--home DIR]
  countersign passport [--url URL] [--home DIR] [--once] [--approve-all|--reject-all] [--json]
                                                     the Passport device emulator (countersign passport --help)
  countersign policy check [--json]                  compile countersign.yaml and report problems
  countersign policy explain --tool T --args JSON [--agent A] [--pins JSON] [--json]
  countersign policy test CASES.yaml [--json]
  countersign audit verify [--json] [--offline BUNDLE]
  countersign audit export [--since ISO-TIME] [--out FILE]

Environment: PORT (8787), HOST (127.0.0.1), COUNTERSIGN_HOME (./.countersign), COUNTERSIGN_CONFIG (./countersign.yaml),
COUNTERSIGN_PUBLIC_URL, DATABASE_URL (unset: embedded PGlite), GITHUB_TOKEN, STRIPE_SECRET_KEY.
`;

interface Env {
  home: string;
  configPath: string;
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
    configPath: resolve(process.env.COUNTERSIGN_CONFIG ?? 'countersign.yaml'),
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

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') return print({ exitCode: 0, stdout: HELP });
    const e = env();
    if (command === 'start') return await start(e);
    if (command === 'stdio') {
      const { runStdioBridge } = await import('./stdio.ts');
      await runStdioBridge({ url: process.env.COUNTERSIGN_URL ?? `http://127.0.0.1:${e.port}`, token: process.env.COUNTERSIGN_TOKEN ?? '' });
      return 0;
    }
    if (command === 'policy') return print(await runPolicy(e, rest));
    // The emulator is a separate device: it talks to the server over HTTP only, never to the data directory.
    if (command === 'passport') return await (await load.passport()).passportMain(rest);
    if (command === 'audit' && rest[0] === 'verify' && rest.includes('--offline')) return print(await runStateless(rest));
    if (!STATEFUL.has(command)) return print({ exitCode: 2, stdout: `unknown command "${command}"\n\n${HELP}` });
    const viaServer = await sendToServer(e.home, argv);
    if (viaServer) return print(viaServer);
    return print(await withLocalServices(e, (services) => runState(services, argv)));
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
  (await load.app()).ensureConfig(e.configPath);
  const { policyCheck, policyExplain, policyTest } = await load.policy();
  const { values, positionals } = parseArgs({
    args: argv.slice(1),
    options: { tool: { type: 'string' }, args: { type: 'string' }, agent: { type: 'string' }, pins: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const json = values.json ?? false;
  switch (argv[0]) {
    case 'check':
      return policyCheck(e.configPath, { json });
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
  const { values } = parseArgs({ args: argv.slice(1), options: { offline: { type: 'string' }, json: { type: 'boolean' } } });
  const [{ auditVerifyOffline }, { verifyReceiptForBundle }] = await Promise.all([load.audit(), load.receipts()]);
  return auditVerifyOffline(values.offline!, { json: values.json ?? false, verifyReceipt: verifyReceiptForBundle });
}

/** Runs one state command against running services (in the server process, or a short-lived local one). */
export async function runState(services: Services, argv: string[]): Promise<CommandOutput> {
  const [command, sub, ...rest] = argv;
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
    },
    allowPositionals: true,
  });
  const json = values.json ?? false;
  const db = services.database.db;
  const [{ agentAdd, agentList, agentRevoke }, { auditExport, auditVerify }, { approverInvite }] = await Promise.all([
    load.agent(),
    load.audit(),
    load.invite(),
  ]);
  if (command === 'migrate') return { exitCode: 0, stdout: json ? '{"migrated":true}\n' : 'migrations applied\n' };
  if (command === 'agent' && sub === 'add') {
    if (!positionals[0] || !values.owner) return { exitCode: 2, stdout: 'usage: countersign agent add NAME --owner EMAIL [--json]\n' };
    return agentAdd(services, { name: positionals[0], owner: values.owner, json });
  }
  if (command === 'agent' && sub === 'list') return agentList(services, { json });
  if (command === 'agent' && sub === 'revoke') {
    if (!positionals[0]) return { exitCode: 2, stdout: 'usage: countersign agent revoke NAME\n' };
    return agentRevoke(services, { name: positionals[0], json });
  }
  if (command === 'approver' && sub === 'invite') {
    if (!positionals[0]) return { exitCode: 2, stdout: 'usage: countersign approver invite EMAIL [--role ROLE] [--json]\n' };
    return approverInvite(db, services.publicUrl, { email: positionals[0], role: values.role, json });
  }
  if (command === 'device' && sub === 'pair') {
    if (!values.approver) return { exitCode: 2, stdout: 'usage: countersign device pair --approver EMAIL [--name NAME] [--json]\n' };
    const { devicePair } = await load.devicePair();
    return devicePair(db, services.admin, services.publicUrl, { email: values.approver, name: values.name ?? null, json });
  }
  if (command === 'audit' && sub === 'verify') return auditVerify(services, { json });
  if (command === 'audit' && sub === 'export') return auditExport(services, { since: values.since, out: values.out });
  return { exitCode: 2, stdout: `unknown command "${argv.join(' ')}"\n\n${HELP}` };
}

async function withLocalServices(e: Env, run: (services: Services) => Promise<CommandOutput>): Promise<CommandOutput> {
  const release = e.databaseUrl ? () => {} : takeLock(e.home, 'cli');
  let services: Services | undefined;
  try {
    services = await (await load.app()).createServices(options(e));
    return await run(services);
  } finally {
    await services?.close();
    release();
  }
}

async function start(e: Env): Promise<number> {
  const release = e.databaseUrl ? () => {} : takeLock(e.home, 'server');
  const { serve } = await import('@hono/node-server');
  const services = await (await load.app()).createServices(options(e));
  const admin = await startAdminSocket(e.home, (argv) => runState(services, argv));
  const server = serve({ fetch: services.app.fetch, port: e.port, hostname: e.host });
  await new Promise<void>((ok) => server.once('listening', () => ok()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : e.port;
  const sandbox = services.sandbox ? ' (SANDBOX: connectors without credentials talk to local sandbox upstreams)' : '';
  process.stdout.write(
    `Countersign listening on http://${e.host}:${port}${sandbox}\n` +
      `  MCP endpoint: ${services.publicUrl}/mcp\n  Approvals:    ${services.publicUrl}/\n` +
      `  Database:     ${services.database.kind} (${services.database.location})\n` +
      `  Config:       ${e.configPath}\n` +
      `Next: countersign agent add my-agent --owner you@example.com\n`,
  );
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  server.close();
  admin.close();
  await services.close();
  release();
  return 0;
}
