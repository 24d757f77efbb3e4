import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../support/mcp-client.ts';
import { freePort } from '../support/harness.ts';
import { cliFor, enrollRemote, type RemoteApprover } from '../support/remote-approver.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { serverTimeout } from '../support/isolation-mode.ts';

/**
 * What an operator hears from a real `countersign start` whose stdout is a pipe: one JSON line (pino) per request
 * state change, the held one with its approval link, plus start and stop; and /metrics, scraped from outside, moving
 * as calls are made, held, approved and run (pending approvals, decisions, latency and wait histograms, audit lag).
 */

const CONFIG = `holdSeconds: 0
policy:
  default: deny
  rules:
    - { id: reads, tools: [github_get_*, github_list_*], decision: allow }
    - { id: issues, tools: [github_create_issue], decision: approve }
`;

let server: ServerProcess;
let client: Client;
let owner: RemoteApprover;
let port = 0;
let token = '';
// The test owns the home, so a restart finds the held request.
const home = mkdtempSync(join(tmpdir(), 'countersign-operator-'));

type Line = Record<string, unknown> & { event?: string; requestId?: string; msg?: string };
const lines = (): Line[] =>
  server.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

async function until<T>(what: () => T | Promise<T>, ok: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) values.set(m[1]!, Number(m[2]));
  }
  return values;
}
const metric = async (name: string) => (await scrape()).get(name) ?? 0;

beforeAll(async () => {
  port = await freePort();
  server = await startServerProcess({ config: CONFIG, port, home });
  const cli = cliFor(server.home, { ...process.env, COUNTERSIGN_HOME: server.home, COUNTERSIGN_CONFIG: join(server.home, 'countersign.yaml') });
  const added = JSON.parse(await cli(['agent', 'add', 'ops', '--owner', 'owner@example.com'])) as { token: string };
  token = added.token;
  client = await connectClient(server.url, token);
  owner = await enrollRemote(() => server.url, `http://localhost:${port}`, cli, 'owner@example.com');
}, serverTimeout(120_000));
afterAll(async () => {
  await client?.close();
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('operator log and /metrics on a real server', () => {
  it('logs a start line as JSON after the plain banner', () => {
    expect(server.stdout()).toMatch(/^Countersign listening on /);
    expect(lines().find((l) => l.event === 'server.started')).toMatchObject({ level: 30, url: `http://localhost:${port}` });
  });

  it('counts an allowed read: a policy decision and a latency observation for its tool', async () => {
    const before = await scrape();
    const read = await client.callTool({ name: 'github_get_repository', arguments: { owner: 'acme', repo: 'web' } });
    expect(read.isError).toBeFalsy();
    const key = 'countersign_request_duration_seconds_count{tool="github_get_repository",decision="allow"}';
    const after = await until(scrape, (m) => (m.get(key) ?? 0) > (before.get(key) ?? 0));
    expect(after.get(key)).toBe((before.get(key) ?? 0) + 1);
    expect(after.get('countersign_policy_decisions_total{decision="allow"}')).toBe((before.get('countersign_policy_decisions_total{decision="allow"}') ?? 0) + 1);
    expect(after.get('countersign_http_requests_total{route="/mcp",method="POST",status="200"}')).toBeGreaterThan(0);
  }, serverTimeout(60_000));

  it('logs each state change of a held-then-approved call, with the approval link, and metrics follow it', async () => {
    expect(await metric('countersign_pending_approvals')).toBe(0);
    const held = await client.callTool({ name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'Operator log test' } });
    expect(JSON.stringify(held.structuredContent)).toContain('pending');
    const [request] = await until(() => owner.inbox(), (inbox) => inbox.length === 1);
    expect(request).toBeDefined();
    const id = request!.id;
    expect(await until(() => metric('countersign_pending_approvals'), (n) => n === 1)).toBe(1);
    const waiting = await until(lines, (all) => all.some((l) => l.requestId === id && l.event === 'request.held'));
    expect(waiting.find((l) => l.requestId === id && l.event === 'request.held')).toMatchObject({ tool: 'github_create_issue', url: `http://localhost:${port}/requests/${id}` });

    const decided = await owner.decide(id, request!.digest, 'approve');
    expect(decided.status, JSON.stringify(decided.json)).toBe(200);
    const all = await until(lines, (ls) => ls.some((l) => l.requestId === id && l.event === 'request.succeeded'));
    const events = all.filter((l) => l.requestId === id).map((l) => l.event);
    expect(events).toEqual(['request.submitted', 'request.held', 'request.decided', 'request.approved', 'request.executing', 'request.succeeded']);
    expect(all.find((l) => l.requestId === id && l.event === 'request.decided')).toMatchObject({ by: 'owner@example.com', outcome: 'approve' });
    expect(all.find((l) => l.requestId === id && l.event === 'request.submitted')).toMatchObject({ agent: 'ops', tool: 'github_create_issue' });

    const after = await scrape();
    expect(after.get('countersign_pending_approvals')).toBe(0);
    expect(after.get('countersign_approval_decisions_total{outcome="approve"}')).toBe(1);
    expect(after.get('countersign_policy_decisions_total{decision="approve"}')).toBe(1);
    expect(after.get('countersign_approval_wait_seconds_count{outcome="approved"}')).toBe(1);
    expect(after.get('countersign_request_duration_seconds_count{tool="github_create_issue",decision="approve"}')).toBe(1);
    expect(after.get('countersign_requests_finished_total{state="succeeded"}')).toBe(2);
    expect(after.has('countersign_audit_queue_entries')).toBe(true);
    expect(after.has('countersign_audit_queue_oldest_seconds')).toBe(true);
  }, serverTimeout(90_000));

  it('after a restart, a request held before it is logged and measured as it is decided and run', async () => {
    const held = await client.callTool({ name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'Held over a restart' } });
    expect(JSON.stringify(held.structuredContent)).toContain('pending');
    const [request] = await until(() => owner.inbox(), (inbox) => inbox.length === 1);
    await client.close();
    await server.close();
    server = await startServerProcess({ config: CONFIG, port, home });
    client = await connectClient(server.url, token);
    expect(await metric('countersign_pending_approvals')).toBe(1);
    expect((await owner.decide(request!.id, request!.digest, 'approve')).status).toBe(200);
    const all = await until(lines, (ls) => ls.some((l) => l.requestId === request!.id && l.event === 'request.succeeded'));
    expect(all.filter((l) => l.requestId === request!.id).map((l) => l.event)).toEqual(['request.decided', 'request.approved', 'request.executing', 'request.succeeded']);
    expect(all.find((l) => l.requestId === request!.id && l.event === 'request.succeeded')).toMatchObject({ tool: 'github_create_issue' });
    const after = await scrape();
    expect(after.get('countersign_request_duration_seconds_count{tool="github_create_issue",decision="approve"}')).toBe(1);
    expect(after.get('countersign_approval_wait_seconds_count{outcome="approved"}')).toBe(1);
    expect(after.get('countersign_pending_approvals')).toBe(0);
  }, serverTimeout(120_000));

  it('logs the stop', async () => {
    await client.close();
    await server.close();
    expect(lines().map((l) => l.event).slice(-2)).toEqual(['server.stopping', 'server.stopped']);
  }, serverTimeout(30_000));
});
