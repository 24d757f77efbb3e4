import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, ToolListChangedNotificationSchema, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js';
import type { JsonObject } from '../../kernel/index.ts';
import { startStack, type Stack, type TestApprover } from '../support/harness.ts';
import { createTestConnector, type TestConnector } from '../support/test-connector.ts';
import { agentAdd, agentList, agentRevoke } from '../../gateway/commands/agent.ts';

/**
 * `countersign stdio` as Claude Desktop runs it: a child process speaking MCP on stdio, bridged to the running server.
 * Also the agent commands that print the token and the client configs pointing at it.
 */

const CONFIG = `
holdSeconds: 3
policy:
  default: approve
  rules:
    - id: reads
      tools: [test_read_note]
      decision: allow
    - id: never-delete-all
      tools: [test_delete_all]
      decision: deny
      reason: deleting every note is never done by an agent
`;

let stack: Stack;
let connector: TestConnector;
let owner: TestApprover;
let client: Client;
let token: string;

beforeAll(async () => {
  connector = createTestConnector();
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  owner = await stack.enrollApprover('owner@example.com');
  const added = await agentAdd(stack.services, { name: 'desktop-agent', owner: 'owner@example.com', json: true });
  expect(added.exitCode).toBe(0);
  token = (JSON.parse(added.stdout) as { token: string }).token;
  client = new Client({ name: 'stdio-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [resolve('bin/countersign.js'), 'stdio'],
      env: { ...process.env, COUNTERSIGN_URL: stack.url, COUNTERSIGN_TOKEN: token } as Record<string, string>,
      stderr: 'pipe',
    }),
  );
});
afterAll(async () => {
  await client?.close();
  await stack?.close();
});

const text = (result: CallToolResult) => result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('countersign stdio bridge (child process)', () => {
  it('passes initialize and tools/list through', async () => {
    expect(client.getServerVersion()?.name).toBe('countersign');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('test_write_note');
    expect(tools.find((t) => t.name === 'test_delete_all')?.annotations?.destructiveHint).toBe(true);
  });

  it('passes the server\'s tools/list_changed on to the client, which then lists the new set', async () => {
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (changed += 1));
    // A connector's tools change (as a downstream MCP server's do): the kernel re-reads the index.
    const high = connector.tools.find((t) => t.name === 'test_delete_all')!;
    connector.tools = connector.tools.filter((t) => t !== high);
    await stack.services.kernel.refreshTools();
    for (let waited = 0; changed === 0 && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(changed).toBeGreaterThan(0);
    expect((await client.listTools()).tools.map((t) => t.name)).not.toContain('test_delete_all');
    connector.tools = [...connector.tools, high];
    await stack.services.kernel.refreshTools();
  });

  it('passes an allowed call and a denied call through', async () => {
    const allowed = (await client.callTool({ name: 'test_read_note', arguments: { key: 'welcome' } })) as CallToolResult;
    expect(allowed.structuredContent).toMatchObject({ found: true, text: 'hello from the test connector' });
    const denied = (await client.callTool({ name: 'test_delete_all', arguments: { confirm: 'yes' } })) as CallToolResult;
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('deleting every note is never done by an agent');
  });

  it('passes progress of a held call through, and its result once approved', async () => {
    const progress: Progress[] = [];
    let decided: Promise<unknown> | undefined;
    const result = (await client.callTool({ name: 'test_write_note', arguments: { key: 'desk', text: 'from desktop' } }, CallToolResultSchema, {
      onprogress: (p) => {
        progress.push(p);
        const id = /\/requests\/(req_[0-9a-f]+)/.exec(p.message ?? '')?.[1];
        if (id && !decided) decided = stack.decide(owner, id, 'approve');
      },
    })) as CallToolResult;
    await decided;
    expect(progress[0]?.message).toContain('Waiting for a human to approve: Write note "desk"');
    expect(result.structuredContent).toEqual({ key: 'desk', written: true });
  });
});

describe('countersign agent add|list|revoke', () => {
  it('prints the token once with Claude Code, Claude Desktop and OpenAI Agents SDK config', async () => {
    const out = await agentAdd(stack.services, { name: 'printed-agent', owner: 'new-owner@example.com' });
    expect(out.exitCode).toBe(0);
    const tokenLine = /^\s+(cs_agent_\S+)$/m.exec(out.stdout)?.[1];
    expect(tokenLine).toBeTruthy();
    expect(out.stdout).toContain(`claude mcp add --transport http countersign ${stack.url}/mcp --header "Authorization: Bearer ${tokenLine}"`);
    expect(out.stdout).toContain('"COUNTERSIGN_TOKEN": "' + tokenLine);
    expect(out.stdout).toContain(`MCPServerStreamableHttp(`);
    expect(out.stdout).toContain(`params={"url": "${stack.url}/mcp", "headers": {"Authorization": "Bearer ${tokenLine}"}}`);
    // This owner has no passkey yet, so the command says so and prints their enrollment link.
    expect(out.stdout).toMatch(new RegExp(`${stack.url}/enroll/\\S+`));
  });

  it('prints one JSON object with --json, lists agents and revokes them', async () => {
    const added = JSON.parse((await agentAdd(stack.services, { name: 'json-agent', owner: 'owner@example.com', json: true })).stdout) as JsonObject;
    expect(added).toMatchObject({ agent: { name: 'json-agent', owner: 'owner@example.com' }, ownerEnrollmentUrl: null });
    const listed = JSON.parse((await agentList(stack.services, { json: true })).stdout) as { agents: JsonObject[] };
    expect(listed.agents.map((a) => a.name)).toEqual(expect.arrayContaining(['desktop-agent', 'json-agent']));
    const revoked = await agentRevoke(stack.services, { name: 'json-agent', json: true });
    expect(JSON.parse(revoked.stdout)).toMatchObject({ agent: { name: 'json-agent' } });
    const again = await agentRevoke(stack.services, { name: 'json-agent' });
    expect(again.exitCode).toBe(2);
    expect(again.stdout).toContain('no active agent named "json-agent"');
    const duplicate = await agentAdd(stack.services, { name: 'desktop-agent', owner: 'owner@example.com' });
    expect(duplicate.exitCode).toBe(2);
    expect(duplicate.stdout).toContain('already exists');
  });
});
