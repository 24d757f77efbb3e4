import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { BIN, run, startServer, type ServerProcess } from '../support/cli-process.ts';
import { freePort } from '../support/harness.ts';
import { serverTimeout } from '../support/isolation-mode.ts';

/**
 * A server restart under a connected stdio bridge, spawned the way Claude Desktop spawns it: the config `agent add`
 * printed, from another working directory. Reads go on working by themselves; a write that was held for approval
 * when the server went away is not sent again (it may have reached the kernel), and the agent learns its request id.
 */

const CONFIG = `
holdSeconds: 60
policy:
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*]
      decision: allow
`;

let dir: string;
let elsewhere: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess;
let client: Client;
let stderr = '';

const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

/** SIGTERM (the default) drains; SIGKILL, as a crash or the OOM killer, drops every connection with no answer. */
async function restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  if (signal === 'SIGKILL') {
    const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
    process.kill(-server.child.pid!, 'SIGKILL'); // its process group: the server and what it spawned
    await exited;
  } else await server.stop();
  server = await startServer({ cwd: dir, env });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-restart-'));
  elsewhere = mkdtempSync(join(tmpdir(), 'countersign-desktop-'));
  writeFileSync(join(dir, 'countersign.yaml'), CONFIG);
  env = { ...process.env, PORT: String(await freePort()), COUNTERSIGN_HOME: join(dir, '.countersign') };
  delete env.DATABASE_URL;
  delete env.COUNTERSIGN_CONFIG;
  delete env.COUNTERSIGN_PUBLIC_URL;
  server = await startServer({ cwd: dir, env });
  const added = await run([process.execPath, BIN, 'agent', 'add', 'desktop', '--owner', 'you@example.com', '--json'], { cwd: dir, env });
  expect(added.code, added.stdout + added.stderr).toBe(0);
  const desktop = (JSON.parse(added.stdout) as { claudeDesktop: { mcpServers: { countersign: { command: string; args: string[]; env: Record<string, string> } } } })
    .claudeDesktop.mcpServers.countersign;
  // The printed config as Claude Desktop runs it; a restart on a busy CI machine can take longer than the default 15 s.
  const transport = new StdioClientTransport({ command: desktop.command, args: desktop.args, env: { ...desktop.env, COUNTERSIGN_RECONNECT_SECONDS: '90' }, cwd: elsewhere, stderr: 'pipe' });
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  client = new Client({ name: 'claude-desktop-like', version: '1.0.0' });
  await client.connect(transport);
}, serverTimeout(180_000));

afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

describe('stdio bridge across a server restart', () => {
  it('keeps serving reads after the server restarts, with no action from the client', async () => {
    await client.listTools();
    const before = (await client.callTool({ name: 'github_get_pull_request', arguments: { owner: 'acme', repo: 'web', pull_number: 42 } })) as CallToolResult;
    expect(before.isError, text(before)).toBeFalsy();
    await restart();
    const after = (await client.callTool({ name: 'github_get_pull_request', arguments: { owner: 'acme', repo: 'web', pull_number: 42 } })) as CallToolResult;
    expect(after.isError, text(after) + stderr).toBeFalsy();
    expect(after.structuredContent).toMatchObject({ number: 42 });
    await restart();
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(10);
  }, serverTimeout(180_000));

  it('does not send a held write again when the server is killed under it (no answer comes), and names the request it made', async () => {
    let restarting: Promise<void> | undefined;
    const pr = (await client.callTool({ name: 'github_get_pull_request', arguments: { owner: 'acme', repo: 'web', pull_number: 42 } })) as CallToolResult;
    const sha = (pr.structuredContent as { head_sha: string }).head_sha;
    const merge = { owner: 'acme', repo: 'web', pull_number: 42, sha };
    const result = (await client.callTool({ name: 'github_merge_pull_request', arguments: merge }, CallToolResultSchema, {
      timeout: 120_000,
      onprogress: () => {
        restarting ??= restart('SIGKILL');
      },
    })) as CallToolResult;
    await restarting;
    expect(result.isError).toBe(true);
    const data = result.structuredContent as { code: string; requests: { id: string; tool: string; state: string }[] };
    expect(data.code, text(result)).toBe("connection_lost");
    expect(data.requests, text(result)).toEqual([expect.objectContaining({ tool: 'github_merge_pull_request', state: 'pending' })]);
    expect(text(result)).toContain(`countersign_await {"id": "${data.requests[0]!.id}"}`);

    // Exactly one merge request exists: the bridge did not submit it twice.
    const mine = (await client.callTool({ name: 'countersign_requests', arguments: {} })) as CallToolResult;
    const merges = (mine.structuredContent as { requests: { tool: string }[] }).requests.filter((r) => r.tool === 'github_merge_pull_request');
    expect(merges).toHaveLength(1);
  }, serverTimeout(240_000));

  it('passes on the pending answer a stopping server gives a held write, and does not send it again', async () => {
    let restarting: Promise<void> | undefined;
    const pr = (await client.callTool({ name: 'github_get_pull_request', arguments: { owner: 'acme', repo: 'web', pull_number: 42 } })) as CallToolResult;
    const merge = { owner: 'acme', repo: 'web', pull_number: 42, sha: (pr.structuredContent as { head_sha: string }).head_sha };
    const before = (await client.callTool({ name: 'countersign_requests', arguments: {} })) as CallToolResult;
    const count = () => (before.structuredContent as { requests: { tool: string }[] }).requests.filter((r) => r.tool === 'github_merge_pull_request').length;
    const result = (await client.callTool({ name: 'github_merge_pull_request', arguments: merge }, CallToolResultSchema, {
      timeout: 120_000,
      onprogress: () => {
        restarting ??= restart();
      },
    })) as CallToolResult;
    await restarting;
    // The draining server answered the held call itself: pending, its id, how to wait, and why it stopped holding.
    expect(result.isError ?? false, text(result)).toBe(false);
    const data = result.structuredContent as { status: string; approval_id: string; interrupted: string };
    expect(data).toMatchObject({ status: 'pending', interrupted: 'this Countersign server is stopping' });
    expect(text(result)).toContain(`countersign_await with {"id": "${data.approval_id}"}`);
    const mine = (await client.callTool({ name: 'countersign_requests', arguments: {} })) as CallToolResult;
    const merges = (mine.structuredContent as { requests: { id: string; tool: string; state: string }[] }).requests.filter((r) => r.tool === 'github_merge_pull_request');
    expect(merges).toHaveLength(count() + 1);
    expect(merges.find((r) => r.id === data.approval_id)?.state).toBe('pending');
  }, serverTimeout(240_000));
});
