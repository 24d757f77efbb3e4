import { copyFileSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGithubSandbox, type GithubSandbox } from '../../tools/github/sandbox/index.ts';
import { startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { connectClient } from '../support/mcp-client.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { startUpstreamTap, type Tapped, type UpstreamTap } from '../support/upstream-tap.ts';
import { cliFor, enrollRemote, type Cli, type RemoteApprover } from '../support/remote-approver.ts';
import { freePort } from '../support/harness.ts';

/**
 * `--isolation process` when one of its processes dies (SIGKILL: no shutdown code runs) while a governed call is in
 * its hands. An executor killed while its upstream write is on the wire: the supervisor restarts it, the kernel
 * reconciles, and the write has happened at most once (counted at the tap, which lives in this process); the request
 * ends succeeded, or `unknown` in its owner's inbox. The edge killed while it holds an agent's call: the request stays
 * in the kernel, the restarted edge takes the decision, and `countersign_await` returns the one execution. The kernel
 * killed while it holds a call: the supervisor starts the whole set again, and the request waits in the database. SIGTERM with
 * a refund on the wire: the set drains in order, and the kernel records the refund the executor finishes. An executor
 * whose restart cannot spawn (its Node binary gone, as in an upgrade) is tried again until it can. Linux only
 * (a process per role is found through /healthz and killed by pid).
 */

const CONFIG = `
holdSeconds: 30
leaseSeconds: 1
rateLimit: { perMinute: 100000 }
connectors:
  github: { token: env:GITHUB_TOKEN, baseUrl: GITHUB_URL }
  stripe: { secretKey: env:STRIPE_SECRET_KEY, baseUrl: STRIPE_URL }
policy:
  default: approve
`;
const env = { GITHUB_TOKEN: 'ghp_isolationkills', STRIPE_SECRET_KEY: 'sk_test_isolationkills' };
const isRefund = (r: Tapped) => r.method === 'POST' && r.path.startsWith('/v1/refunds');
const isIssue = (r: Tapped) => r.method === 'POST' && r.path === '/repos/acme/web/issues';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let home: string;
let port: number;
let server: ServerProcess;
let sandboxes: { github: GithubSandbox; stripe: StripeSandbox };
let taps: { github: UpstreamTap; stripe: UpstreamTap };
let cli: Cli;
let owner: RemoteApprover;
let token: string;
const url = () => `http://127.0.0.1:${port}`;

type Health = { status: string; processes: { name: string; pid: number | null; state: string; restarts: number }[] };
async function health(): Promise<Health> {
  return (await (await fetch(`${url()}/healthz`)).json()) as Health;
}
async function processes(): Promise<Health['processes']> {
  return (await health()).processes;
}
const pidOf = async (name: string) => (await processes()).find((p) => p.name === name)!.pid;
/** Gone, not a zombie waiting for its parent to read its status. */
function alive(pid: number): boolean {
  try {
    return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * SIGKILL of one of the set's processes, then the supervisor's restart of it, up again under a new pid; with what
 * /healthz said of it meanwhile (`seen`: its states and the set's status, in order, repeats dropped).
 */
async function killAndAwaitRestart(name: string, whileDown?: () => Promise<void>): Promise<{ before: number; after: number; seen: string[] }> {
  const before = (await pidOf(name))!;
  const seen: string[] = [];
  process.kill(before, 'SIGKILL');
  await whileDown?.();
  for (let i = 0; i < 600; i++) {
    await sleep(250);
    const now = await health().catch(() => null); // the edge answers /healthz: while it restarts, nothing does
    const entry = now?.processes.find((p) => p.name === name);
    const said = entry ? `${entry.state} (${now!.status})` : 'absent';
    if (seen.at(-1) !== said) seen.push(said);
    if (entry?.pid && entry.pid !== before && entry.state === 'up' && !alive(before)) return { before, after: entry.pid, seen };
  }
  throw new Error(`${name} did not come back after SIGKILL:\n${server.stderr()}`);
}

let client: Client | null = null;
async function call(tool: string, args: Record<string, unknown>): Promise<{ isError: boolean; data: Record<string, unknown> }> {
  client ??= await connectClient(url(), token);
  const result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
  return { isError: Boolean(result.isError), data: (result.structuredContent ?? {}) as Record<string, unknown> };
}

/** The request as its agent sees it; `unknown` only once it waits for a human (countersign_await says what to check). */
async function settled(id: string): Promise<string> {
  let last: unknown = null;
  // `unknown` is also the state a request passes through while recovery reconciles it (lease taken, answer not yet
  // in): it counts as the outcome only once it has stayed so for 5 s of polls.
  let unknownFor = 0;
  for (let i = 0; i < 480; i++) {
    const listed = await call('countersign_requests', {});
    const state = (listed.data.requests as { id: string; state: string }[]).find((r) => r.id === id)?.state;
    last = state;
    if (state === 'succeeded' || state === 'failed') return state;
    unknownFor = state === 'unknown' ? unknownFor + 1 : 0;
    if (unknownFor >= 20) {
      const { data } = await call('countersign_await', { id });
      last = data;
      if (typeof data.message === 'string') return 'unknown';
    }
    await sleep(250);
  }
  throw new Error(`request ${id} did not settle within two minutes: ${JSON.stringify(last)}\n${server.stderr()}`);
}

/** The request a held call made, as it reaches the owner's inbox (the agent has no id until the hold ends). */
async function arrived(tool: string, seen: Set<string>): Promise<{ id: string; digest: string }> {
  for (let i = 0; i < 240; i++) {
    const item = (await owner.inbox()).find((r) => r.tool === tool && !seen.has(r.id));
    if (item) {
      seen.add(item.id);
      return item;
    }
    await sleep(250);
  }
  throw new Error(`no ${tool} request reached the inbox:\n${server.stderr()}`);
}

async function verifies(id: string, state: string): Promise<void> {
  const lines = (await cli(['audit', 'receipt', id])).trim().split('\n').map((l) => JSON.parse(l) as { type: string; leaf?: string });
  const kinds = lines.filter((l) => l.type === 'proof').map((l) => (JSON.parse(l.leaf!) as { kind: string }).kind);
  expect(kinds.filter((k) => k === 'execution.succeeded').length).toBe(state === 'succeeded' ? 1 : 0);
  expect(kinds).toContain('request.approved');
  expect((JSON.parse(await cli(['audit', 'verify'])) as { ok: boolean }).ok).toBe(true);
}

/**
 * After a process of the set died with request `id` held: it still waits (pending, no refund upstream since `before`),
 * and once its owner approves it runs exactly once, succeeds, and its receipt and the log verify.
 */
async function stillPendingThenOnce(id: string, digest: string, before: number): Promise<void> {
  const listed = await call('countersign_requests', {});
  expect((listed.data.requests as { id: string; state: string }[]).find((r) => r.id === id)?.state).toBe('pending');
  expect(taps.stripe.effects.slice(before).filter(isRefund), 'no refund before approval').toHaveLength(0);
  expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
  const awaited = await call('countersign_await', { id });
  expect(awaited.isError, JSON.stringify(awaited.data)).toBe(false);
  expect(await settled(id)).toBe('succeeded');
  expect(taps.stripe.effects.slice(before).filter(isRefund), 'refunds upstream').toHaveLength(1);
  await verifies(id, 'succeeded');
}

describe.runIf(process.platform === 'linux')('--isolation process: SIGKILL of an executor mid-call, of the edge and of the kernel mid-hold', { timeout: 600_000 }, () => {
  const seen = new Set<string>();
  let node: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'countersign-isokill-'));
    port = await freePort();
    sandboxes = { github: await startGithubSandbox(), stripe: await startStripeSandbox() };
    taps = { github: await startUpstreamTap(sandboxes.github.url), stripe: await startUpstreamTap(sandboxes.stripe.url) };
    writeFileSync(join(home, 'countersign.yaml'), CONFIG.replace('GITHUB_URL', taps.github.url).replace('STRIPE_URL', taps.stripe.url));
    // The set runs on a link to this Node binary, which a test removes to make a spawn fail.
    node = join(home, 'node');
    try {
      linkSync(process.execPath, node);
    } catch {
      copyFileSync(process.execPath, node); // another filesystem
    }
    server = await startServerProcess({ home, port, env, args: ['--isolation', 'process'], startSeconds: 420, node });
    cli = cliFor(home, { ...process.env, ...env, COUNTERSIGN_HOME: home, COUNTERSIGN_CONFIG: join(home, 'countersign.yaml') });
    owner = await enrollRemote(url, `http://localhost:${port}`, cli, 'owner@example.com');
    token = (JSON.parse(await cli(['agent', 'add', 'kill-agent', '--owner', 'owner@example.com'])) as { token: string }).token;
  }, 600_000);

  afterAll(async () => {
    await client?.close().catch(() => {});
    await server?.close();
    for (const tap of Object.values(taps ?? {})) await tap.close();
    await sandboxes?.github.close();
    await sandboxes?.stripe.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('stripe executor killed while its refund is on the wire: restarted, reconciled (the refund found by its request tag), one refund', async () => {
    const before = taps.stripe.effects.length;
    const held = call('stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 1500 }).catch((e: Error) => e);
    const { id, digest } = await arrived('stripe_create_refund', seen);
    const write = taps.stripe.holdNext(isRefund, 'before');
    expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
    const inFlight = await write;
    // The refund lands upstream after the executor that sent it died (its answer reaches nobody), and before the
    // restarted one can reconcile: released only once the executor is back, a slow machine's recovery could look
    // first, find nothing yet and rightly leave it `unknown` for a human.
    const { before: old, after, seen: states } = await killAndAwaitRestart('executor:stripe', () => inFlight.release());
    expect(after).not.toBe(old);
    // Listed all along: restarting (the set degraded) until it is up again, never missing from /healthz.
    expect(states).toContain('restarting (degraded)');
    expect(states).not.toContain('absent');
    expect(states.at(-1)).toBe('up (ok)');
    void held; // the agent's held call ends with the hold; the request's state is what counts
    const state = await settled(id);
    const effects = taps.stripe.effects.slice(before).filter(isRefund);
    expect(effects.length, 'refunds upstream').toBe(1);
    expect(state).toBe('succeeded'); // reconcile found the refund upstream by its request tag (without the tag's look-up: unknown)
    // The new pid above proves the restart (`restarts` counts only within a 60 s backoff window, which a slow run's
    // executor, started over a minute before the kill, has left); the restarted one is still the one serving.
    expect((await processes()).find((p) => p.name === 'executor:stripe')).toMatchObject({ pid: after, state: 'up' });
    await verifies(id, state);
  });

  it('an executor whose restart cannot spawn (its Node binary gone for a while) is tried again, and comes back', async () => {
    const before = await pidOf('executor:github');
    renameSync(node, `${node}.away`);
    const { after, seen: states } = await killAndAwaitRestart('executor:github', async () => {
      // Until the supervisor has seen its respawn fail, the binary stays away; then it is back, as after an upgrade.
      for (let i = 0; i < 240 && !server.stderr().includes('executor:github process: spawn'); i++) await sleep(250);
      renameSync(`${node}.away`, node);
    });
    expect(server.stderr()).toMatch(/executor:github process: spawn \S+ ENOENT/);
    expect(after).not.toBe(before);
    expect(states.at(-1)).toBe('up (ok)');
  });

  it('github executor killed before its write left: nothing upstream, the request waits in the owner’s inbox as unknown', async () => {
    const before = taps.github.effects.length;
    const held = call('github_create_issue', { owner: 'acme', repo: 'web', title: 'Isolation kill case' }).catch((e: Error) => e);
    const { id, digest } = await arrived('github_create_issue', seen);
    const write = taps.github.holdNext(isIssue, 'before');
    expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
    const inFlight = await write;
    await killAndAwaitRestart('executor:github');
    inFlight.drop(); // never reaches GitHub
    void held;
    const state = await settled(id);
    expect(taps.github.effects.slice(before).filter(isIssue)).toHaveLength(0);
    // No marker upstream cannot prove the issue was never created: a human decides, as in one process.
    expect(state).toBe('unknown');
    expect((await owner.inbox()).map((r) => r.id), 'an unknown outcome waits in the owner inbox').toContain(id);
    await verifies(id, state);
  });

  it('edge killed while it holds the call: the restarted edge takes the decision, countersign_await returns the one execution', async () => {
    const before = taps.stripe.effects.length;
    const agent = await connectClient(url(), token);
    const held = agent.callTool({ name: 'stripe_create_refund', arguments: { charge: 'ch_3SbxGraceCharge001', amount: 700 } }, undefined, { timeout: 120_000 }).then(
      () => 'answered',
      () => 'lost',
    );
    const { id, digest } = await arrived('stripe_create_refund', seen);
    await client?.close().catch(() => {});
    client = null; // its session dies with the edge
    const { before: old } = await killAndAwaitRestart('edge');
    await agent.close().catch(() => {});
    expect(await held, 'the held call ended with its edge, unanswered').toBe('lost');
    expect(alive(old)).toBe(false);
    // Nothing was lost with the edge: the request still waits, and the agent finds it without calling again.
    await stillPendingThenOnce(id, digest, before);
  });

  it('kernel killed while a call is held: the whole set starts again under new pids, the request waits in the database, one execution', async () => {
    const before = taps.stripe.effects.length;
    const agent = await connectClient(url(), token);
    const held = agent.callTool({ name: 'stripe_create_refund', arguments: { charge: 'ch_3SbxGraceCharge001', amount: 900 } }, undefined, { timeout: 120_000 });
    const { id, digest } = await arrived('stripe_create_refund', seen);
    await client?.close().catch(() => {});
    client = null; // its session ends with the edge the set's restart takes down
    const set = (await processes()).map((p) => ({ name: p.name, pid: p.pid! }));
    await killAndAwaitRestart('kernel');
    // The edge lost its kernel while it held the call: the agent is answered with the pending request to pick up,
    // not a dropped connection (which told it nothing, not even the request's id).
    const answer = await held;
    expect(answer.isError ?? false).toBe(false);
    expect(answer.structuredContent).toMatchObject({ status: 'pending', approval_id: id, interrupted: expect.any(String) });
    await agent.close().catch(() => {});
    // Every channel ended with the kernel: every process of the set was started again, none left behind.
    const now = await health();
    expect(now.status).toBe('ok');
    expect(now.processes.map((p) => p.name).sort()).toEqual(set.map((p) => p.name).sort());
    for (const p of now.processes) {
      expect(p.state, p.name).toBe('up');
      expect(p.pid, `${p.name} under a new pid`).not.toBe(set.find((q) => q.name === p.name)!.pid);
    }
    for (const p of set) expect(alive(p.pid), `${p.name} ${p.pid} gone`).toBe(false);
    // The request lived in the kernel's database, not in its memory: still pending, nothing executed.
    await stillPendingThenOnce(id, digest, before);
  });

  // Last: it stops the set. SIGTERM drains in order: the edge first, then the executors, which finish the calls in
  // their hands, then the kernel, which records their outcome.
  it('SIGTERM while a refund is on the wire: the edge stops first, the executor finishes the refund, the kernel records it last', async () => {
    const before = taps.stripe.effects.length;
    void call('stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 300 }).catch(() => {});
    const { id, digest } = await arrived('stripe_create_refund', seen);
    const write = taps.stripe.holdNext(isRefund, 'before');
    expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
    const inFlight = await write;
    const set = (await processes()).map((p) => ({ name: p.name, pid: p.pid! }));
    // Which round of polls first found each process gone (rounds 25 ms apart).
    const goneAt = new Map<string, number>();
    let round = 0;
    const watching = (async () => {
      while (goneAt.size < set.length && round < 4000) {
        round++;
        for (const p of set) if (!goneAt.has(p.name) && !alive(p.pid)) goneAt.set(p.name, round);
        await sleep(25);
      }
    })();
    const stopped = server.close(); // SIGTERM to the supervisor
    // The idle executors are told to drain with the one holding the refund: once they are gone, it has been told too.
    const idle = set.filter((p) => p.name.startsWith('executor:') && p.name !== 'executor:stripe').map((p) => p.name);
    while (!idle.every((name) => goneAt.has(name)) && round < 2400) await sleep(25);
    // Gone: the edge, then the idle executors. Still there: the executor with the refund in hand, and the kernel.
    expect([...goneAt.keys()].sort()).toEqual(['edge', ...idle].sort());
    for (const name of idle) expect(goneAt.get(name)).toBeGreaterThanOrEqual(goneAt.get('edge')!);
    inFlight.release();
    await stopped;
    await watching;
    expect(goneAt.get('executor:stripe')).toBeGreaterThan(goneAt.get('edge')!);
    expect(goneAt.get('kernel')).toBeGreaterThanOrEqual(goneAt.get('executor:stripe')!);
    expect(taps.stripe.effects.slice(before).filter(isRefund), 'refunds upstream').toHaveLength(1);
    // No server runs now: the CLI opens the database itself, where the kernel recorded the refund before it stopped.
    await verifies(id, 'succeeded');
  });
});
