import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGithubSandbox, type GithubSandbox } from '../../tools/github/sandbox/index.ts';
import { startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { connectClient } from '../support/mcp-client.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { startUpstreamTap, type UpstreamTap } from '../support/upstream-tap.ts';
import { cliFor, enrollRemote, type Cli, type RemoteApprover } from '../support/remote-approver.ts';
import { freePort } from '../support/harness.ts';
import { serverTimeout } from '../support/isolation-mode.ts';
import { Browser } from '../support/oauth-client.ts';

/**
 * Two real `countersign start` processes on one PostgreSQL database (README: several replicas): a replica starting
 * while another executes a slow write leaves it alone; an approval decided on B releases the call held on A
 * (LISTEN/NOTIFY), executed once; an ID token one signs verifies with the other's JWKS (one OAuth signing key); A killed (SIGKILL) mid-write is recovered by B with the three-way reconcile. The
 * sandboxes live in this process and count upstream effects. PostgreSQL only: embedded PGlite is single-process.
 */

const base = process.env.TEST_DATABASE_URL;
const CONFIG = `
holdSeconds: 30
leaseSeconds: 2
rateLimit: { perMinute: 100000 }
connectors:
  github: { token: env:GITHUB_TOKEN, baseUrl: GITHUB_URL }
  stripe: { secretKey: env:STRIPE_SECRET_KEY, baseUrl: STRIPE_URL }
policy:
  default: approve
  rules:
    - id: quick-issues
      tools: [github_create_issue]
      decision: allow
`;
const secrets = { GITHUB_TOKEN: 'ghp_replicas', STRIPE_SECRET_KEY: 'sk_test_replicas' };

interface Replica {
  name: string;
  home: string;
  port: number;
  server: ServerProcess | null;
  url: string;
}

let dbName: string;
let admin: postgres.Sql;
let env: Record<string, string>;
let github: GithubSandbox;
let stripe: StripeSandbox;
let taps: { github: UpstreamTap; stripe: UpstreamTap };
let a: Replica;
let b: Replica;
let cli: Cli;
let owner: RemoteApprover;
/** The replica the owner's device talks to. */
let approverAt: Replica;
let token: string;
const clients: Client[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isIssue = (r: { method: string; path: string }) => r.method === 'POST' && r.path === '/repos/acme/web/issues';
const isRefund = (r: { method: string; path: string }) => r.method === 'POST' && r.path.startsWith('/v1/refunds');

async function replica(name: string): Promise<Replica> {
  const home = mkdtempSync(join(tmpdir(), `countersign-${name}-`));
  const port = await freePort();
  return { name, home, port, server: null, url: `http://127.0.0.1:${port}` };
}

async function start(r: Replica): Promise<void> {
  writeFileSync(join(r.home, 'countersign.yaml'), CONFIG.replace('GITHUB_URL', taps.github.url).replace('STRIPE_URL', taps.stripe.url));
  r.server = await startServerProcess({ home: r.home, port: r.port, env });
}

async function agent(r: Replica): Promise<Client> {
  const client = await connectClient(r.url, token);
  clients.push(client);
  return client;
}

async function call(client: Client, tool: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
  return { isError: Boolean(result.isError), data: (result.structuredContent ?? {}) as Record<string, unknown> };
}

/** A request's state and audit kinds, read from the shared database. */
async function row(id: string) {
  const [found] = await admin.unsafe(`select state, error, lease_owner, attempt from requests where id = $1`, [id]);
  return found as unknown as { state: string; error: { code: string } | null; lease_owner: string | null; attempt: number };
}
async function kinds(id: string): Promise<string[]> {
  const rows = await admin.unsafe(`select kind from audit_queue where request_id = $1 union all select kind from audit_entries where request_id = $1`, [id]);
  return rows.map((r) => r.kind as string);
}
async function idFor(title: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const [found] = await admin.unsafe(`select id from requests where body->'args'->>'title' = $1`, [title]);
    if (found) return found.id as string;
    await sleep(100);
  }
  throw new Error(`no request titled ${title}`);
}
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const value = await probe();
    if (value) return value;
    await sleep(200);
  }
  throw new Error(`${what} did not happen within ${ms / 1000} s`);
}

const SKIPPED = 'skipped on embedded PGlite (single-process); set TEST_DATABASE_URL to a PostgreSQL server to run it';
if (!base) console.warn(`replica-processes.test.ts: ${SKIPPED}`);

beforeAll(async () => {
  if (!base) return;
  dbName = `cs_replicas_${randomBytes(5).toString('hex')}`;
  admin = postgres(base, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  await admin.end();
  const target = new URL(base);
  target.pathname = `/${dbName}`;
  admin = postgres(target.toString(), { max: 2, onnotice: () => {} });
  github = await startGithubSandbox();
  stripe = await startStripeSandbox();
  taps = { github: await startUpstreamTap(github.url), stripe: await startUpstreamTap(stripe.url) };
  a = await replica('replica-a');
  b = await replica('replica-b');
  env = { ...secrets, DATABASE_URL: target.toString(), COUNTERSIGN_PUBLIC_URL: `http://localhost:${a.port}` };
  await start(a);
  // Every replica holds the same kernel key: README says to copy COUNTERSIGN_HOME/keys/ before the others start.
  mkdirSync(join(b.home, 'keys'), { recursive: true, mode: 0o700 });
  cpSync(join(a.home, 'keys'), join(b.home, 'keys'), { recursive: true });
  cli = cliFor(a.home, { ...process.env, ...env, COUNTERSIGN_HOME: a.home, COUNTERSIGN_CONFIG: join(a.home, 'countersign.yaml') });
  approverAt = a;
  owner = await enrollRemote(() => approverAt.url, env.COUNTERSIGN_PUBLIC_URL!, cli, 'owner@example.com');
  token = (JSON.parse(await cli(['agent', 'add', 'replica-agent', '--owner', 'owner@example.com'])) as { token: string }).token;
}, serverTimeout(180_000));

afterAll(async () => {
  if (!base) return;
  for (const client of clients) await client.close().catch(() => {});
  for (const r of [a, b]) {
    await r?.server?.close();
    if (r) rmSync(r.home, { recursive: true, force: true });
  }
  for (const tap of Object.values(taps ?? {})) await tap.close();
  await github?.close();
  await stripe?.close();
  await admin?.end();
  const cleanup = postgres(base, { max: 1, onnotice: () => {} });
  await cleanup.unsafe(`drop database if exists ${dbName} with (force)`);
  await cleanup.end();
});

describe.skipIf(!base)(`two countersign start processes on one PostgreSQL${base ? '' : ` (${SKIPPED})`}`, () => {
  it('a replica starting while another executes a slow write leaves it alone: one upstream effect', { timeout: 240_000 }, async () => {
    const before = taps.github.effects.length;
    const held = taps.github.holdNext(isIssue, 'before');
    const client = await agent(a);
    const asked = call(client, 'github_create_issue', { owner: 'acme', repo: 'web', title: 'Slow write while B starts' });
    const write = await held;
    const id = await idFor('Slow write while B starts');
    // B starts (recovering at once) while A's write is upstream; it stays held for three lease lengths meanwhile.
    await start(b);
    await sleep(6_000);
    expect(await row(id)).toMatchObject({ state: 'executing', attempt: 1 });
    await write.release();
    const result = await asked;
    expect(result.isError, JSON.stringify(result.data)).toBe(false);
    expect(await row(id)).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect(taps.github.effects.slice(before).filter(isIssue)).toHaveLength(1);
    const audit = await kinds(id);
    expect(['grant.minted', 'execution.succeeded', 'execution.unknown', 'execution.conflict'].map((k) => audit.filter((x) => x === k).length)).toEqual([1, 1, 0, 0]);
  });

  it('an approval decided on B releases the call held by an agent on A, executed once', { timeout: 240_000 }, async () => {
    const before = taps.stripe.effects.length;
    const client = await agent(a);
    const held = call(client, 'stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 700 });
    const item = await until('the refund in the inbox', async () => (await owner.inbox()).find((r) => r.tool === 'stripe_create_refund'));
    // The owner's device decides on B.
    approverAt = b;
    const decided = await owner.decide(item.id, item.digest, 'approve');
    approverAt = a;
    expect(decided.status, JSON.stringify(decided.json)).toBe(200);
    const result = await held;
    expect(result.isError, JSON.stringify(result.data)).toBe(false);
    expect(result.data).toMatchObject({ object: 'refund', amount: 700 });
    expect(taps.stripe.effects.slice(before).filter(isRefund)).toHaveLength(1);
    expect(await row(item.id)).toMatchObject({ state: 'succeeded' });
  });

  it("an OAuth connection consented on A, exchanged on B and refreshed on A: each ID token verifies with the other replica's JWKS", { timeout: 120_000 }, async () => {
    if (!b.server) await start(b);
    const publicUrl = env.COUNTERSIGN_PUBLIC_URL!;
    const at = (r: Replica) => ({ url: publicUrl, listenUrl: r.url });
    const redirect = 'http://localhost:9/callback';
    const registered = await fetch(`${a.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Replica App', redirect_uris: [redirect], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
    });
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const browser = new Browser(at(a));
    await browser.signInWithPasskey(owner.passkey);
    const query = { response_type: 'code', client_id: clientId, redirect_uri: redirect, scope: 'openid offline_access mcp', code_challenge: challenge, code_challenge_method: 'S256', resource: `${publicUrl}/mcp`, state: 's' };
    const path = await browser.startAuthorization(new URL(`${publicUrl}/oauth/authorize?${new URLSearchParams(query)}`));
    const code = (await browser.consent(path, { authenticator: owner.passkey }, 'replica-oauth-app')).searchParams.get('code')!;

    const token = async (r: Replica, params: Record<string, string>) => {
      const response = await fetch(`${r.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: clientId, ...params }) });
      expect(response.status, await response.clone().text()).toBe(200);
      return (await response.json()) as { id_token: string; refresh_token: string; access_token: string };
    };
    const jwks = async (r: Replica) => createLocalJWKSet((await (await fetch(`${r.url}/oauth/jwks`)).json()) as JSONWebKeySet);
    const verify = async (idToken: string, r: Replica) => (await jwtVerify(idToken, await jwks(r), { issuer: publicUrl, audience: clientId })).payload.sub;

    const fromB = await token(b, { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier });
    expect(await verify(fromB.id_token, a)).toBe('replica-oauth-app');
    const fromA = await token(a, { grant_type: 'refresh_token', refresh_token: fromB.refresh_token });
    expect(await verify(fromA.id_token, b)).toBe('replica-oauth-app');
    // Both publish the one key (from COUNTERSIGN_HOME/keys/, copied from A before B first started).
    expect(await (await fetch(`${a.url}/oauth/jwks`)).json()).toEqual(await (await fetch(`${b.url}/oauth/jwks`)).json());
  });

  it('A killed (SIGKILL) while it holds a call for approval: nothing lost; approved on B, countersign_await on B returns it, run once', { timeout: 240_000 }, async () => {
    const before = taps.stripe.effects.length;
    const client = await agent(a);
    // The SDK client does not fail the call when the connection drops (it tries to resume the stream, then waits out
    // its own request timeout), so the test does not wait for it: what matters is what the database kept.
    void call(client, 'stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 400 }).catch(() => null);
    const item = await until('the refund in the inbox', async () => (await owner.inbox()).find((r) => r.tool === 'stripe_create_refund'));
    await a.server!.kill();
    expect(await row(item.id)).toMatchObject({ state: 'pending' });
    approverAt = b;
    const decided = await owner.decide(item.id, item.digest, 'approve');
    expect(decided.status, JSON.stringify(decided.json)).toBe(200);
    // The agent reconnects to the surviving replica and waits for the request it was given.
    const result = await call(await agent(b), 'countersign_await', { id: item.id });
    expect(result.isError, JSON.stringify(result.data)).toBe(false);
    expect(result.data).toMatchObject({ object: 'refund', amount: 400 });
    expect(taps.stripe.effects.slice(before).filter(isRefund)).toHaveLength(1);
    expect(await row(item.id)).toMatchObject({ state: 'succeeded', attempt: 1 });
    const audit = await kinds(item.id);
    expect(['grant.minted', 'execution.succeeded'].map((k) => audit.filter((x) => x === k).length)).toEqual([1, 1]);
    // A comes back for the next case, on the same database and key.
    await start(a);
    approverAt = a;
  });

  it('A killed (SIGKILL) mid-write: B reconciles, re-running only with proof, else unknown for the owner', { timeout: 240_000 }, async () => {
    const [issues, refunds] = [taps.github.effects.length, taps.stripe.effects.length];
    // Two writes on their way upstream when A dies, neither arrives: an issue (nobody can prove it did not happen, so
    // its owner decides) and a refund (Stripe's idempotency key proves a re-run harmless, so B runs it again, once).
    const heldIssue = taps.github.holdNext(isIssue, 'before');
    const client = await agent(a);
    void call(client, 'github_create_issue', { owner: 'acme', repo: 'web', title: 'In flight when A died' }).catch(() => null);
    const issueWrite = await heldIssue;
    const issueId = await idFor('In flight when A died');
    const heldRefund = taps.stripe.holdNext(isRefund, 'before');
    void call(client, 'stripe_create_refund', { charge: 'ch_3SbxGraceCharge001', amount: 300 }).catch(() => null);
    const item = await until('the refund in the inbox', async () => (await owner.inbox()).find((r) => r.tool === 'stripe_create_refund'));
    expect((await owner.decide(item.id, item.digest, 'approve')).status).toBe(200);
    const refundAnswer = await heldRefund;

    await a.server!.kill();
    issueWrite.drop();
    refundAnswer.drop();

    const issue = await until('B settling the issue', async () => ((await row(issueId)).error?.code === 'outcome_unknown' ? row(issueId) : null));
    expect(issue).toMatchObject({ state: 'unknown' });
    const refund = await until('B settling the refund', async () => ((await row(item.id)).state === 'succeeded' ? row(item.id) : null));
    expect(refund.attempt).toBe(2);
    expect(taps.github.effects.slice(issues).filter(isIssue)).toHaveLength(0);
    expect(taps.stripe.effects.slice(refunds).filter(isRefund)).toHaveLength(1);
    expect(await kinds(issueId)).toEqual(expect.arrayContaining(['execution.unknown', 'execution.reconciled']));
    expect(await kinds(item.id)).toEqual(expect.arrayContaining(['execution.unknown', 'execution.reconciled', 'execution.succeeded']));

    const cliB = cliFor(b.home, { ...process.env, ...env, COUNTERSIGN_HOME: b.home, COUNTERSIGN_CONFIG: join(b.home, 'countersign.yaml') });
    expect((JSON.parse(await cliB(['audit', 'verify'])) as { ok: boolean }).ok).toBe(true);
  });
});

