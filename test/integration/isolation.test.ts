import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_CONFIG } from '../../gateway/example-config.ts';
import { startGithubSandbox } from '../../tools/github/sandbox/index.ts';
import { connectClient } from '../support/mcp-client.ts';
import { createPassportKey, pairingGuess } from '../support/passport-key.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { sendToServer } from '../../gateway/admin.ts';

// `countersign start --isolation process` from outside, as an attacker on the edge would see it: which process listens
// on the MCP port, and what its environment holds (DESIGN section 9, invariant 10). Linux only (/proc).

const SECRETS = {
  GITHUB_TOKEN: 'ghp_isolation_test_secret_0001',
  STRIPE_SECRET_KEY: 'sk_test_isolation_secret_0002',
  AWS_ACCESS_KEY_ID: 'AKIAISOLATIONTEST0003',
  AWS_SECRET_ACCESS_KEY: 'isolation-aws-secret-0004',
};
const linux = process.platform === 'linux';

/** The pid of the process holding the listening TCP socket on `port` (/proc/net/tcp, then each process's fds). */
function listenerPid(port: number): number | null {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(hex) && cols[3] === '0A') inodes.add(`socket:[${cols[9]}]`);
    }
  }
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid);
    } catch {
      // a process that ended meanwhile, or another user's
    }
  }
  return null;
}

const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8');
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const role = (pid: number) => cmdline(pid).at(-1);
/** Running, not gone or a zombie waiting for its parent. */
function alive(pid: number): boolean {
  try {
    return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Runs `code` (an ES module) in a Node started with `flags`: what that process gets when it reads `file`. */
function readWith(flags: string[], file: string): string {
  const code = `import { readFileSync } from 'node:fs'; try { readFileSync(${JSON.stringify(file)}); console.log('read'); } catch (e) { console.log(e.code); }`;
  const out = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', code], { encoding: 'utf8' });
  return `${out.stdout}${out.stderr}`.trim();
}

describe.runIf(linux)('--isolation process', { timeout: 600_000 }, () => {
  let server: ServerProcess;
  let github: Awaited<ReturnType<typeof startGithubSandbox>>;
  let processes: { name: string; pid: number; state: string }[];
  let health: { isolation: string; processes: typeof processes; mcp?: { name: string; state: string; tools: number }[] };

  beforeAll(async () => {
    github = await startGithubSandbox({});
    // A downstream MCP server too (stdio), so its executor and its state show on /healthz.
    const memory = resolve('node_modules/@modelcontextprotocol/server-memory/dist/index.js');
    const downstream = `  mcp:\n    servers:\n      memory:\n        command: ${process.execPath}\n        args: ["${memory}"]\n`;
    // Behind a reverse proxy on loopback (trustProxy): a setting the edge needs and the kernel process reads.
    const config = `${EXAMPLE_CONFIG}\ntrustProxy: [loopback]\nconnectors:\n  github:\n    token: env:GITHUB_TOKEN\n    baseUrl: ${github.url}\n${downstream}`;
    server = await startServerProcess({ config, env: { ...SECRETS, COUNTERSIGN_DEBUG: '1' }, args: ['--isolation', 'process'], startSeconds: 420 });
    health = (await (await fetch(`${server.url}/healthz`)).json()) as typeof health;
    expect(health.isolation).toBe('process');
    processes = health.processes;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await github?.close();
  });

  it('runs the kernel, one executor per connector and the edge, each up', () => {
    expect(processes.map((p) => p.name).sort()).toEqual(['edge', 'executor:aws', 'executor:github', 'executor:mcp', 'executor:stripe', 'kernel']);
    expect(processes.every((p) => p.state === 'up')).toBe(true);
    for (const p of processes) expect(role(p.pid)).toBe(p.name);
  });

  it('the kernel, which holds the embedded database, compiles WebAssembly with Liftoff only; no other process does', () => {
    // V8 takes the flag from the command line only (test/unit/liftoff.test.ts; bench/NOTES.md, eleventh pass).
    for (const p of processes) expect(cmdline(p.pid).includes('--liftoff-only'), p.name).toBe(p.name === 'kernel');
  });

  it('the process listening on the MCP port is the edge, and its environment holds no credential', () => {
    const pid = listenerPid(server.port);
    expect(pid).not.toBeNull();
    expect(pid).not.toBe(server.pid);
    expect(role(pid!)).toBe('edge');
    const env = environ(pid!);
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(env, name).not.toContain(value);
      expect(env, name).not.toContain(`${name}=`);
    }
  });

  it('the edge runs under Node’s permission model, may read only its own bundle, and so cannot read the kernel key', () => {
    const pid = listenerPid(server.port)!;
    const args = cmdline(pid);
    const script = args.at(-2)!;
    const flags = args.slice(1, -2);
    expect(flags.filter((f) => f === '--permission' || f === '--experimental-permission')).toHaveLength(1);
    // Reading one file, its code, outside the data directory; no writes, no processes, no workers, no addons.
    expect(flags.filter((f) => f.startsWith('--allow-'))).toEqual([`--allow-fs-read=${script}`]);
    expect(script.startsWith(server.home)).toBe(false);
    // The same Node with the same flags cannot open the kernel's private key file; without them it can (the check bites).
    const key = join(server.home, 'keys', 'kernel.jwk.json');
    expect(readWith([], key)).toBe('read');
    expect(readWith(flags, key)).toBe('ERR_ACCESS_DENIED');
    expect(readWith(flags, join(server.home, 'countersign.yaml'))).toBe('ERR_ACCESS_DENIED');
    expect(readWith(flags, script)).toBe('read');
  });

  it('the edge serves the web app’s client scripts, built by the supervisor into its bundle', async () => {
    const page = await (await fetch(`${server.url}/signin`)).text();
    const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    for (const path of assets) {
      const response = await fetch(server.url + path);
      expect(response.status, path).toBe(200);
      expect((await response.text()).length, path).toBeGreaterThan(0);
    }
  });

  it('the edge keys its throttles on the client the trusted proxy names, as config says (trustProxy)', async () => {
    const jwk = (await createPassportKey()).publicJwk as JsonWebKey;
    const guess = (forwarded: string) => pairingGuess(server.url, forwarded, jwk);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push(await guess('203.0.113.7'));
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(statuses[10]).toBe(429);
    // Another client behind the same proxy has its own budget: it would share the proxy's without the setting.
    expect(await guess('203.0.113.8')).toBe(400);
  });

  it('/healthz names the downstream MCP servers and their state, as in one process', async () => {
    let mcp = health.mcp;
    for (let i = 0; i < 120 && mcp?.[0]?.state !== 'up'; i++) {
      await new Promise((ok) => setTimeout(ok, 500));
      mcp = ((await (await fetch(`${server.url}/healthz`)).json()) as typeof health).mcp;
    }
    expect(mcp?.map(({ name, state }) => ({ name, state }))).toEqual([{ name: 'memory', state: 'up' }]);
    expect(mcp![0]!.tools).toBeGreaterThan(0);
  });

  it('/metrics has a series per process: up, restarts, resident memory', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const p of processes) {
      expect(text).toContain(`countersign_process_up{process="${p.name}"} 1`);
      expect(text).toContain(`countersign_process_restarts{process="${p.name}"} 0`);
      expect(text).toMatch(new RegExp(`countersign_process_resident_memory_bytes\\{process="${p.name}"\\} [1-9]\\d{6,}`));
    }
    expect(text).toContain('countersign_http_requests_total');
    // The request and approval metrics live in the kernel process; the edge asks it for them (operator:metrics).
    expect(text).toMatch(/^countersign_pending_approvals \d+$/m);
    expect(text).toContain('# TYPE countersign_request_duration_seconds histogram');
    expect(text).not.toContain('request metrics unavailable');
  });

  it('countersign policy reload reaches the kernel, which reads the config with stand-ins for the executors’ credentials', async () => {
    const reload = await sendToServer(server.home, ['policy', 'reload', '--json']);
    expect(reload?.exitCode, reload?.stdout).toBe(0);
    expect(JSON.parse(reload!.stdout)).toMatchObject({ changed: false });
  });

  it('each executor holds only its own credentials, and the kernel none', () => {
    const own: Record<string, (keyof typeof SECRETS)[]> = {
      'executor:github': ['GITHUB_TOKEN'],
      'executor:stripe': ['STRIPE_SECRET_KEY'],
      'executor:aws': ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
      'executor:mcp': [],
      kernel: [],
      edge: [],
    };
    for (const p of processes) {
      const env = environ(p.pid);
      for (const [name, value] of Object.entries(SECRETS) as [keyof typeof SECRETS, string][]) {
        if (own[p.name]!.includes(name)) expect(env, `${p.name} ${name}`).toContain(`${name}=${value}`);
        else expect(env, `${p.name} ${name}`).not.toContain(value);
      }
    }
  });

  it('a governed call crosses edge, kernel and executor and reaches the upstream with the executor’s token', async () => {
    const added = await sendToServer(server.home, ['agent', 'add', 'iso-bot', '--owner', 'owner@example.com', '--json']);
    expect(added?.exitCode).toBe(0);
    const { token } = JSON.parse(added!.stdout) as { token: string };
    const client = await connectClient(server.url, token);
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('github_list_pull_requests');
      const result = await client.callTool({ name: 'github_list_pull_requests', arguments: { owner: 'acme', repo: 'web' } });
      expect(result.isError ?? false, JSON.stringify(result.content)).toBe(false);
      expect(JSON.stringify(result.structuredContent)).toContain('Fix login');
    } finally {
      await client.close();
    }
  });

  it('a signal to every process of the set at once (Ctrl-C, systemd) still stops it in order: no child dies of it first', async () => {
    // As a group signal arrives: the children first here, so a child that died of it would be seen restarting.
    for (const p of processes.filter((p) => p.name !== 'edge')) process.kill(p.pid, 'SIGTERM');
    process.kill(listenerPid(server.port)!, 'SIGTERM');
    await new Promise((ok) => setTimeout(ok, 1_000));
    expect(processes.every((p) => alive(p.pid)), server.stderr()).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await server.close(); // SIGTERM to the supervisor: edge, executors, kernel drain in turn
    expect(server.stderr()).not.toMatch(/exited \(SIGTERM\); restarting/);
    const events = server.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { event?: string }).event);
    expect(events.slice(-2)).toEqual(['server.stopping', 'server.stopped']);
    expect(processes.filter((p) => alive(p.pid)).map((p) => p.name)).toEqual([]);
  });

  it('refuses to start when a rule does not type-check against a tool an executor offers, naming the rule', async () => {
    const config = `policy:\n  default: approve\n  rules:\n    - { id: big-refunds, tools: [stripe_create_refund], when: 'args.amount > "5000"', decision: deny }\n`;
    const started = await startServerProcess({ config, args: ['--isolation', 'process'], startSeconds: 420 }).then(
      async (s) => {
        await s.close();
        return 'started';
      },
      (error: Error) => error.message,
    );
    expect(started).toMatch(/countersign start exited with [1-9]/);
    expect(started).toMatch(/rule "big-refunds".*fails for stripe_create_refund.*args\.amount <= 5000 \(an int, no quotes\)/);
  });
});
