import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, run } from '../support/cli-process.ts';
import { connectClient } from '../support/mcp-client.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { serverTimeout } from '../support/isolation-mode.ts';

/**
 * The sandbox upstreams keep their world in COUNTERSIGN_HOME across restarts of a real `countersign start` (PR #42
 * merged stays merged, a refund stays made), and `countersign sandbox reset` puts the story back: in place on a
 * running server, or by forgetting the files while it is stopped.
 */

const CONFIG = `policy:
  default: deny
  rules:
    - { id: reads, tools: [github_get_*, github_list_*, stripe_list_*], decision: allow }
    - { id: writes, tools: [github_merge_pull_request, stripe_create_refund], decision: allow }
`;
const CHARGE = 'ch_3SbxJaneCharge0001';

let server: ServerProcess;
let client: Client;
let token = '';
// The test owns the home, so the server's data outlives each stop.
const dir = mkdtempSync(join(tmpdir(), 'countersign-sandbox-'));
const home = () => dir;
const cli = (...args: string[]) => run([process.execPath, BIN, ...args], { cwd: home(), env: { ...process.env, COUNTERSIGN_HOME: home(), COUNTERSIGN_CONFIG: join(home(), 'countersign.yaml') } });

async function call(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Record<string, unknown>;
}
const pr42 = async () => (await call('github_get_pull_request', { owner: 'acme', repo: 'web', pull_number: 42 })) as { merged: boolean; head_sha: string };
const refunded = async () => {
  const charges = (await call('stripe_list_charges', {})) as { charges?: { id: string; amount_refunded?: number }[]; data?: { id: string; amount_refunded?: number }[] };
  return (charges.charges ?? charges.data ?? []).find((c) => c.id === CHARGE)?.amount_refunded;
};

async function restart(): Promise<void> {
  await client.close();
  await server.close();
  server = await startServerProcess({ home: dir, port: server.port, config: CONFIG });
  client = await connectClient(server.url, token);
}

beforeAll(async () => {
  server = await startServerProcess({ home: dir, config: CONFIG });
  const added = await cli('agent', 'add', 'story', '--owner', 'owner@example.com', '--json');
  token = (JSON.parse(added.stdout) as { token: string }).token;
  client = await connectClient(server.url, token);
}, serverTimeout(120_000));
afterAll(async () => {
  await client?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('sandbox state in COUNTERSIGN_HOME', () => {
  it('keeps a merged PR and a refund across a restart', async () => {
    const before = await pr42();
    expect(before.merged).toBe(false);
    expect(await refunded()).toBe(0);
    await call('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: before.head_sha });
    await call('stripe_create_refund', { charge: CHARGE, amount: 1500 });
    expect(existsSync(join(home(), 'sandbox', 'github.v8'))).toBe(true);
    await restart();
    expect((await pr42()).merged).toBe(true);
    expect(await refunded()).toBe(1500);
  }, serverTimeout(120_000));

  it('sandbox reset on a running server puts the story back in place', async () => {
    const reset = await cli('sandbox', 'reset');
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/^Sandbox reset \(github, stripe, aws\): acme\/web has PR #42 open again.*The running server uses it now/);
    expect((await pr42()).merged).toBe(false);
    expect(await refunded()).toBe(0);
  }, serverTimeout(60_000));

  it('sandbox reset while the server is stopped: the next start begins afresh', async () => {
    await call('stripe_create_refund', { charge: CHARGE, amount: 700 });
    await client.close();
    const { port } = server;
    await server.close();
    const reset = await cli('sandbox', 'reset');
    expect(reset.code, reset.stdout + reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/^Sandbox reset \([a-z, ]*stripe[a-z, ]*\): the next countersign start begins the story afresh/);
    expect((await cli('sandbox', 'reset')).stdout).toMatch(/^Sandbox is already as seeded/);
    expect((await cli('sandbox', 'bogus')).code).toBe(2);
    server = await startServerProcess({ home: dir, port, config: CONFIG });
    client = await connectClient(server.url, token);
    expect(await refunded()).toBe(0);
  }, serverTimeout(120_000));
});
