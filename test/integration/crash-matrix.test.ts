import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED as GITHUB_SEED, startGithubSandbox, type GithubSandbox } from '../../tools/github/sandbox/index.ts';
import { startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { connectClient } from '../support/mcp-client.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { startUpstreamTap, type Held, type Tapped, type UpstreamTap } from '../support/upstream-tap.ts';
import { cliFor, enrollRemote, type Cli, type RemoteApprover } from '../support/remote-approver.ts';
import { freePort } from '../support/harness.ts';

/**
 * SIGKILL of a real `countersign start` at each point of an approved write's life, then a restart on the same data:
 * never two upstream effects (counted at the sandboxes, which live in this process and outlive the server), nothing
 * approved lost (it ends succeeded, or `unknown` in the owner's inbox), and the audit log verifies. Embedded PGlite,
 * as a single server runs it, or with TEST_DATABASE_URL a PostgreSQL database of its own (created and dropped here). `npm test` runs two cases; `npm run crash` (COUNTERSIGN_CRASH=full) runs
 * every write at every point, COUNTERSIGN_CRASH_REPEATS times (default 3).
 */

const FULL = process.env.COUNTERSIGN_CRASH === 'full';
const REPEATS = FULL ? Number(process.env.COUNTERSIGN_CRASH_REPEATS ?? 3) : 1;

/**
 * Where the server dies. `claimed`: approved, grant minted and used, the write not yet upstream (it never arrives).
 * `in-flight`: the write is on its way; it lands at the sandbox just after the kill. `landed-late`: it lands only after
 * the restarted server has settled the request. `answered`: upstream did it and answered; the server never read the
 * answer. `deciding`: the approval's HTTP request is being handled.
 */
type Point = 'claimed' | 'in-flight' | 'landed-late' | 'answered' | 'deciding';
const POINTS: Point[] = ['claimed', 'in-flight', 'landed-late', 'answered', 'deciding'];

interface Write {
  name: string;
  tool: string;
  upstream: 'github' | 'stripe';
  /**
   * How each point ends. A refund and a merge always settle by themselves: found upstream, or re-run with proof (the
   * same Idempotency-Key; GitHub merges once at the pinned head). An issue settles only when its marker is found
   * upstream; otherwise its owner decides. Killed while deciding, execution may have begun or not: either end is right.
   */
  ends: Partial<Record<Point, 'succeeded' | 'unknown'>>;
  args: (n: number) => Record<string, unknown>;
  /** The upstream request that is the write's effect. */
  isWrite: (r: Tapped) => boolean;
}
const WRITES: Write[] = [
  {
    name: 'Stripe refund', tool: 'stripe_create_refund', upstream: 'stripe',
    ends: { claimed: 'succeeded', 'in-flight': 'succeeded', 'landed-late': 'succeeded', answered: 'succeeded', deciding: 'succeeded' },
    args: () => ({ charge: 'ch_3SbxGraceCharge001', amount: 1500 }),
    isWrite: (r) => r.method === 'POST' && r.path.startsWith('/v1/refunds'),
  },
  {
    name: 'GitHub issue', tool: 'github_create_issue', upstream: 'github',
    ends: { claimed: 'unknown', 'in-flight': 'succeeded', 'landed-late': 'unknown', answered: 'succeeded' },
    args: (n) => ({ owner: 'acme', repo: 'web', title: `Crash case ${n}` }),
    isWrite: (r) => r.method === 'POST' && r.path === '/repos/acme/web/issues',
  },
  {
    name: 'GitHub merge', tool: 'github_merge_pull_request', upstream: 'github',
    ends: { claimed: 'succeeded', 'in-flight': 'succeeded', 'landed-late': 'succeeded', answered: 'succeeded', deciding: 'succeeded' },
    args: () => ({ owner: 'acme', repo: 'web', pull_number: 42, sha: GITHUB_SEED.prHeadSha }),
    isWrite: (r) => r.method === 'PUT' && r.path === '/repos/acme/web/pulls/42/merge',
  },
];

/**
 * The fast subset (each case is a restart of the server): one write nobody can prove, one found upstream, and one
 * whose only proof is Stripe's replay of the same Idempotency-Key (it lands after the re-run: with a fresh key per
 * attempt it would refund twice).
 */
const FAST: [Write['name'], Point][] = [
  ['GitHub issue', 'claimed'],
  ['Stripe refund', 'in-flight'],
  ['Stripe refund', 'landed-late'],
];
const CASES: [Write, Point][] = FULL
  ? WRITES.flatMap((w) => POINTS.map((p): [Write, Point] => [w, p]))
  : FAST.map(([name, point]) => [WRITES.find((w) => w.name === name)!, point]);

const CONFIG = `
holdSeconds: 0
leaseSeconds: 1
rateLimit: { perMinute: 100000 }
connectors:
  github: { token: env:GITHUB_TOKEN, baseUrl: GITHUB_URL }
  stripe: { secretKey: env:STRIPE_SECRET_KEY, baseUrl: STRIPE_URL }
policy:
  default: approve
`;

let home: string;
let port: number;
let server: ServerProcess;
let taps: Record<Write['upstream'], UpstreamTap>;
let sandboxes: { github: GithubSandbox; stripe: StripeSandbox };
let cli: Cli;
let owner: RemoteApprover;
let token: string;
const env: Record<string, string> = { GITHUB_TOKEN: 'ghp_crashmatrix', STRIPE_SECRET_KEY: 'sk_test_crashmatrix' };
const pg = process.env.TEST_DATABASE_URL;
const dbName = `cs_crash_${randomBytes(5).toString('hex')}`;
const onServer = async (statement: string) => {
  const sql = postgres(pg!, { max: 1, onnotice: () => {} });
  await sql.unsafe(statement).finally(() => sql.end());
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const url = () => `http://127.0.0.1:${port}`;
const start = async () => (server = await startServerProcess({ home, port, env }));

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${what} did not happen within ${ms / 1000} s:\n${server.stderr()}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One MCP call as the agent; a new session after each restart (sessions die with their server). */
let client: { server: ServerProcess; client: Client } | null = null;
async function call(tool: string, args: Record<string, unknown>): Promise<{ isError: boolean; data: Record<string, unknown> }> {
  if (client?.server !== server) {
    await client?.client.close().catch(() => {});
    client = { server, client: await connectClient(url(), token) };
  }
  const result = await client.client.callTool({ name: tool, arguments: args });
  return { isError: Boolean(result.isError), data: (result.structuredContent ?? {}) as Record<string, unknown> };
}

/** The request as its agent sees it: succeeded, failed, waiting for a human (`unknown`), or still on its way. */
let last: unknown = null;
async function stateOf(id: string): Promise<'succeeded' | 'failed' | 'unknown' | 'busy' | 'pending'> {
  const listed = await call('countersign_requests', {});
  const state = (listed.data.requests as { id: string; state: string }[]).find((r) => r.id === id)?.state;
  last = state;
  if (state === 'succeeded' || state === 'failed' || state === 'pending') return state;
  if (state !== 'unknown') return 'busy';
  // `unknown` also names a request being reconciled; only one that waits for a human says so, with what to check.
  const { data } = await call('countersign_await', { id });
  last = data;
  return typeof data.message === 'string' ? 'unknown' : 'busy';
}

async function settled(id: string): Promise<'succeeded' | 'failed' | 'unknown' | 'pending'> {
  for (let i = 0; i < 240; i++) {
    const state = await stateOf(id);
    if (state !== 'busy') return state;
    await sleep(250);
  }
  throw new Error(`request ${id} did not settle within a minute: ${JSON.stringify(last)}\n${server.stderr()}`);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'countersign-crash-'));
  if (pg) {
    await onServer(`create database ${dbName}`);
    const url = new URL(pg);
    url.pathname = `/${dbName}`;
    env.DATABASE_URL = url.toString();
  }
  port = await freePort();
  sandboxes = { github: await startGithubSandbox(), stripe: await startStripeSandbox() };
  taps = { github: await startUpstreamTap(sandboxes.github.url), stripe: await startUpstreamTap(sandboxes.stripe.url) };
  writeFileSync(join(home, 'countersign.yaml'), CONFIG.replace('GITHUB_URL', taps.github.url).replace('STRIPE_URL', taps.stripe.url));
  await start();
  cli = cliFor(home, { ...process.env, ...env, COUNTERSIGN_HOME: home, COUNTERSIGN_CONFIG: join(home, 'countersign.yaml') });
  owner = await enrollRemote(url, `http://localhost:${port}`, cli, 'owner@example.com');
  token = (JSON.parse(await cli(['agent', 'add', 'crash-agent', '--owner', 'owner@example.com'])) as { token: string }).token;
}, 180_000);

afterAll(async () => {
  await client?.client.close().catch(() => {});
  await server?.close();
  for (const tap of Object.values(taps ?? {})) await tap.close();
  await sandboxes?.github.close();
  await sandboxes?.stripe.close();
  if (home) rmSync(home, { recursive: true, force: true });
  if (pg) await onServer(`drop database if exists ${dbName} with (force)`);
});

describe(`crash matrix on ${pg ? 'PostgreSQL' : 'PGlite'}: SIGKILL of countersign start (${FULL ? `full, ${REPEATS}x` : 'fast subset; npm run crash for all'})`, () => {
  let n = 0;
  for (const [write, point] of CASES) {
    it(`${write.name}, killed ${point}: at most one upstream effect, nothing approved lost, audit verifies`, { timeout: 240_000 }, async () => {
      for (let repeat = 0; repeat < REPEATS; repeat++) {
        n += 1;
        // A fresh upstream per run, so each starts from the seeded state (PR #42 open, the charge unrefunded).
        const old = sandboxes[write.upstream];
        sandboxes = { ...sandboxes, [write.upstream]: write.upstream === 'github' ? await startGithubSandbox() : await startStripeSandbox() };
        taps[write.upstream].target = sandboxes[write.upstream].url;
        await old.close();
        const tap = taps[write.upstream];
        const effectsBefore = tap.effects.length;

        const asked = await call(write.tool, write.args(n));
        expect(asked.data.status, JSON.stringify(asked.data)).toBe('pending');
        const id = asked.data.approval_id as string;
        const item = (await owner.inbox()).find((r) => r.id === id)!;
        expect(item).toBeDefined();

        let late: Held | null = null;
        if (point === 'deciding') {
          // Killed while the decision's HTTP request is being handled: it counted, or it did not and can be given again.
          const decision = owner.decide(id, item.digest, 'approve').catch(() => null);
          await sleep(Math.floor(Math.random() * 40));
          await server.kill();
          await decision;
        } else {
          const held = tap.holdNext(write.isWrite, point === 'answered' ? 'after' : 'before');
          const decided = await owner.decide(id, item.digest, 'approve');
          expect(decided.status, JSON.stringify(decided.json)).toBe(200);
          const write_ = await within(60_000, `the ${write.name} write reaching the tap`, held);
          await server.kill();
          if (point === 'in-flight') await write_.release();
          else if (point === 'landed-late') late = write_;
          else write_.drop();
        }

        await start();
        let state = await settled(id);
        if (state === 'pending') {
          // The decision never committed: the request waits, as before, and the owner decides again.
          expect(point).toBe('deciding');
          const again = await owner.decide(id, item.digest, 'approve');
          expect(again.status, JSON.stringify(again.json)).toBe(200);
          state = await settled(id);
        }
        if (late) {
          await late.release().catch(() => {});
          await sleep(500);
          state = await settled(id);
        }

        const effects = tap.effects.slice(effectsBefore).filter(write.isWrite);
        expect(effects.length, `upstream effects of ${id} (${point})`).toBeLessThanOrEqual(1);
        expect(['succeeded', 'unknown'], `${id} ended ${state}`).toContain(state);
        if (write.ends[point]) expect(state, `${write.name} killed ${point}`).toBe(write.ends[point]);
        if (state === 'succeeded') expect(effects, `${id} succeeded without an upstream effect`).toHaveLength(1);
        if (state === 'unknown') {
          expect((await owner.inbox()).map((r) => r.id), 'an unknown outcome waits in the owner inbox').toContain(id);
          // The agent is told the same as the owner: it may or may not have run, where to check, who decides.
          const told = await call('countersign_await', { id });
          expect(told.data).toMatchObject({ status: 'unknown', check: expect.stringContaining('https://') });
          expect(told.data.message).toMatch(/^This may or may not have run: .+ Check .*https:\/\/.+, then its owner chooses Mark as done or Run again\.$/);
        }

        const lines = (await cli(['audit', 'receipt', id])).trim().split('\n').map((l) => JSON.parse(l) as { type: string; leaf?: string });
        const kinds = lines.filter((l) => l.type === 'proof').map((l) => (JSON.parse(l.leaf!) as { kind: string }).kind);
        expect(kinds.filter((k) => k === 'execution.succeeded').length).toBe(state === 'succeeded' ? 1 : 0);
        expect(kinds).toContain('request.approved');
        const verified = JSON.parse(await cli(['audit', 'verify'])) as { ok: boolean };
        expect(verified.ok).toBe(true);
      }
    });
  }
});
