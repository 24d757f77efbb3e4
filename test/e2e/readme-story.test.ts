import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { addVirtualAuthenticator, launchBrowser, phoneContext } from '../support/browser.ts';
import { run, startServer, type ServerProcess } from '../support/cli-process.ts';
import { freePort } from '../support/harness.ts';

/**
 * README.md's "Try it", followed as written by one person in a fresh copy of the repository: `npm start`, then
 * `npx countersign agent add`, the printed enrollment link opened in a browser (passkey created), the printed
 * `approver grant`, and the printed configs used from another directory: the Claude Desktop one spawns the stdio
 * bridge, the Claude Code / Cursor / VS Code ones speak HTTP. Then the story (list, read, merge, a small and a large
 * refund, an issue), approving in the browser, with the server restarted in the middle under the connected bridge.
 * Every tool declares outputSchema, so the SDK client validates each result. The story's duration is printed.
 */

let clone: string;
let elsewhere: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess;
let browser: Browser;
let page: Page;
let desktop: Client;
let printed: string;
let url: string;
const started = Date.now();
const steps: string[] = [];
const step = (name: string) => steps.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${name}`);

/** A fresh clone of the working tree as it is (tracked and new files, not ignored ones), sharing node_modules. */
function freshClone(): string {
  const root = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'countersign-clone-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root }).toString().split('\0').filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    try {
      copyFileSync(join(root, file), join(dir, file));
    } catch {
      // Deleted in the working tree but still in the index: a clone would not have it either.
    }
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const npx = (...args: string[]) => run(['npx', 'countersign', ...args], { cwd: clone, env });

/** The JSON block printed under a heading, up to the next heading. */
function block(text: string, heading: string, next: string): Record<string, unknown> {
  const from = text.indexOf(heading);
  const to = text.indexOf(next, from);
  expect(from, `"${heading}" in:\n${text}`).toBeGreaterThanOrEqual(0);
  const body = text.slice(text.indexOf('\n', from), to);
  return JSON.parse(body) as Record<string, unknown>;
}

async function approveInBrowser(approvalUrl: string): Promise<string | null> {
  await page.goto(approvalUrl);
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForSelector('#status[data-outcome]');
  return page.locator('#status').getAttribute('data-outcome');
}

/** Calls a tool through the bridge; when it is held, approves it in the browser; waits it out with countersign_await. */
async function call(name: string, args: Record<string, unknown>, approve = false): Promise<CallToolResult> {
  let approving: Promise<string | null> | undefined;
  let result = (await desktop.callTool({ name, arguments: args }, CallToolResultSchema, {
    timeout: 120_000,
    onprogress: (p) => {
      const link = /(https?:\/\/\S+\/requests\/req_[0-9a-f]+)/.exec(p.message ?? '')?.[1];
      if (approve && link && !approving) approving = approveInBrowser(link);
    },
  })) as CallToolResult;
  if (approving) expect(await approving).toBe('approved');
  for (let i = 0; i < 5 && (result.structuredContent as { status?: string })?.status === 'pending'; i += 1) {
    const id = (result.structuredContent as { approval_id: string }).approval_id;
    result = (await desktop.callTool({ name: 'countersign_await', arguments: { id } }, CallToolResultSchema, { timeout: 120_000 })) as CallToolResult;
  }
  // The model sees the data: the last text block is exactly the structured content.
  const last = result.content.at(-1);
  expect(last?.type === 'text' ? JSON.parse(last.text) : null).toEqual(result.structuredContent);
  return result;
}

beforeAll(async () => {
  clone = freshClone();
  elsewhere = mkdtempSync(join(tmpdir(), 'countersign-desktop-'));
  const port = await freePort();
  url = `http://localhost:${port}`;
  env = { ...process.env, PORT: String(port) };
  for (const key of ['DATABASE_URL', 'COUNTERSIGN_HOME', 'COUNTERSIGN_CONFIG', 'COUNTERSIGN_PUBLIC_URL', 'GITHUB_TOKEN', 'STRIPE_SECRET_KEY']) delete env[key];
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  console.log(`README story, step by step (seconds since the test began):\n  ${steps.join('\n  ')}`);
  await desktop?.close();
  await server?.stop();
  await browser?.close();
  rmSync(clone, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

describe('README "Try it", followed as written by one person', () => {
  it('npm start, then agent add prints working configs and an enrollment link', async () => {
    server = await startServer({ cwd: clone, env, command: ['npm', 'start'] });
    expect(server.output()).toContain('Next: npx countersign agent add my-agent --owner you@example.com');
    step('npm start: listening');
    const added = await npx('agent', 'add', 'my-agent', '--owner', 'you@example.com');
    expect(added.code, added.stdout + added.stderr).toBe(0);
    printed = added.stdout;
    expect(printed).toContain('npx countersign approver grant you@example.com ROLE...');
    step('agent add');
  }, 180_000);

  it('the enrollment link makes you an approver, and approver grant gives you the roles the config asks for', async () => {
    const link = new RegExp(`(${url}/enroll/\\S+)`).exec(printed)?.[1];
    expect(link, printed).toBeTruthy();
    page = await (await phoneContext(browser)).newPage();
    await addVirtualAuthenticator(page);
    await page.goto(link!);
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.waitForURL(`${url}/`);
    step('passkey created');
    const granted = await npx('approver', 'grant', 'you@example.com', 'maintainers', 'finance', 'auditor');
    expect(granted.code, granted.stdout + granted.stderr).toBe(0);
    expect(granted.stdout).toBe('you@example.com now has roles maintainers, finance, auditor (roles: auditor, finance, maintainers).\n');
    // The auditor role opens the audit dashboard, which the example config's other roles do not.
    expect((await page.goto(`${url}/audit`))?.status()).toBe(200);
    await page.goto(`${url}/`);
    step('approver grant');
  }, 120_000);

  it('the Claude Code, Cursor and VS Code configs reach /mcp over HTTP from anywhere', async () => {
    const claudeCode = /claude mcp add --transport http countersign (\S+) --header "Authorization: Bearer (\S+)"/.exec(printed);
    expect(claudeCode?.[1]).toBe(`${url}/mcp`);
    const headers = { Authorization: `Bearer ${claudeCode![2]}` };
    expect(block(printed, 'Cursor (', 'VS Code (')).toEqual({ mcpServers: { countersign: { url: `${url}/mcp`, headers } } });
    expect(block(printed, 'VS Code (', 'OpenAI Agents SDK')).toEqual({ servers: { countersign: { type: 'http', url: `${url}/mcp`, headers } } });
    const http = new Client({ name: 'claude-code-like', version: '1.0.0' });
    await http.connect(new StreamableHTTPClientTransport(new URL(claudeCode![1]!), { requestInit: { headers } }));
    const { tools } = await http.listTools();
    for (const tool of tools) expect(tool.outputSchema?.type, tool.name).toBe('object');
    const repo = (await http.callTool({ name: 'github_get_repository', arguments: { owner: 'acme', repo: 'web' } })) as CallToolResult;
    expect(repo.structuredContent).toMatchObject({ full_name: 'acme/web' });
    await http.close();
  }, 60_000);

  it('the Claude Desktop config spawns the stdio bridge from another directory', async () => {
    const config = block(printed, 'Claude Desktop (', 'Cursor (') as { mcpServers: { countersign: { command: string; args: string[]; env: Record<string, string> } } };
    const { command, args, env: bridgeEnv } = config.mcpServers.countersign;
    expect(command).toMatch(/^\//);
    expect(args[0]).toMatch(/^\/.*bin\/countersign\.js$/);
    // Claude Desktop passes only the config's env (plus a minimal default environment), from its own directory.
    desktop = new Client({ name: 'claude-desktop-like', version: '1.0.0' });
    await desktop.connect(new StdioClientTransport({ command, args, env: bridgeEnv, cwd: elsewhere, stderr: 'pipe' }));
    const { tools } = await desktop.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['github_merge_pull_request', 'stripe_create_refund', 'countersign_await']));
    step('Claude Desktop bridge connected');
  }, 60_000);

  let mergeSha: string;
  it('reads run at once, and the merge waits for your approval', async () => {
    const list = await call('github_list_pull_requests', { owner: 'acme', repo: 'web' });
    expect(list.isError).toBeFalsy();
    expect(list.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')).toContain('"number":42');
    const pr = await call('github_get_pull_request', { owner: 'acme', repo: 'web', pull_number: 42 });
    mergeSha = (pr.structuredContent as { head_sha: string }).head_sha;
    step('list and read');
    const merged = await call('github_merge_pull_request', { owner: 'acme', repo: 'web', pull_number: 42, sha: mergeSha }, true);
    expect(merged.isError, JSON.stringify(merged.content)).toBeFalsy();
    expect(merged.structuredContent).toMatchObject({ merged: true, pull_number: 42 });
    step('merge approved and done');
  }, 240_000);

  it('a server restart does not disturb the connected bridge', async () => {
    await server.stop();
    server = await startServer({ cwd: clone, env, command: ['npm', 'start'] });
    expect(server.output()).toMatch(/Agents: 1 \(npx countersign agent list\)/);
    step('server restarted');
  }, 180_000);

  it('a small refund runs within its budget, a large one waits for finance, and an issue for the owner', async () => {
    const customers = await call('stripe_list_customers', { email: 'jane@example.com' });
    const jane = (customers.structuredContent as { data: { id: string }[] }).data[0]!.id;
    const charges = await call('stripe_list_charges', { customer: jane });
    const charge = (charges.structuredContent as { data: { id: string; amount: number }[] }).data[0]!;
    expect(charge.amount).toBe(12_000);
    const small = await call('stripe_create_refund', { charge: charge.id, amount: 2000 });
    expect(small.structuredContent).toMatchObject({ status: 'succeeded', amount: 2000 });
    step('small refund (allowed by budget)');
    const rest = await call('stripe_create_refund', { charge: charge.id }, true);
    expect(rest.structuredContent, JSON.stringify(rest.content)).toMatchObject({ status: 'succeeded', amount: 10_000 });
    step('large refund approved and done');
    const issue = await call('github_create_issue', { owner: 'acme', repo: 'web', title: 'Login fails on Safari' }, true);
    expect(issue.structuredContent).toMatchObject({ title: 'Login fails on Safari', state: 'open' });
    step('issue approved and created');
  }, 300_000);

});
