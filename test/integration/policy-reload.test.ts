import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, run } from '../support/cli-process.ts';
import { connectClient } from '../support/mcp-client.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { serverTimeout } from '../support/isolation-mode.ts';

/**
 * Policy follows the config file while a real `countersign start` runs: a saved change is checked, swapped in and
 * audited; a broken one changes nothing and the server says why; `countersign policy reload` does the same on demand.
 */

const policy = (issues: 'allow' | 'deny', extra = '') => `policy:
  default: approve
  rules:
    - { id: reads, tools: [github_get_*, github_list_*], decision: allow }
    - { id: issues, tools: [github_create_issue], decision: ${issues}, reason: issues are ${issues === 'deny' ? 'closed' : 'open'} today }
${extra}`;

let server: ServerProcess;
let client: Client;
const config = () => join(server.home, 'countersign.yaml');
const cli = (...args: string[]) => run([process.execPath, BIN, ...args], { cwd: server.home, env: { ...process.env, COUNTERSIGN_HOME: server.home, COUNTERSIGN_CONFIG: config() } });

beforeAll(async () => {
  server = await startServerProcess({ config: policy('deny') });
  const added = await cli('agent', 'add', 'writer', '--owner', 'owner@example.com', '--json');
  client = await connectClient(server.url, (JSON.parse(added.stdout) as { token: string }).token);
}, serverTimeout(120_000));
afterAll(async () => {
  await client?.close();
  await server?.close();
});

const createIssue = async () => {
  const result = await client.callTool({ name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'Reload test' } });
  return { isError: result.isError === true, text: JSON.stringify(result.content) };
};

async function until<T>(what: () => Promise<T>, ok: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await what();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('policy hot reload on a real server', () => {
  it('applies a saved change to the next request and audits policy.changed with both versions', async () => {
    expect(await createIssue()).toMatchObject({ isError: true, text: expect.stringContaining('issues are closed today') });
    writeFileSync(config(), policy('allow'));
    const after = await until(createIssue, (r) => !r.isError);
    expect(after.isError).toBe(false);
    const exported = await cli('audit', 'export', '--json');
    const changed = exported.stdout.split('\n').filter((line) => line.includes('"policy.changed"'));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/"actor":"config-watch"/);
  }, serverTimeout(60_000));

  it('keeps the running policy when a save does not compile or names no tool, and says why', async () => {
    writeFileSync(config(), policy('deny', '    - { id: typo, tools: [github_merge_pr], decision: deny }\n'));
    await until(async () => server.stderr(), (text) => text.includes('github_merge_pr'));
    const said = server.stderr().slice(server.stderr().indexOf('countersign: '));
    expect(said, server.stderr()).toMatch(/no tool is named "github_merge_pr".*did you mean "github_merge_pull_request"\?\nthe running policy is unchanged/s);
    expect((await createIssue()).isError).toBe(false);
    const reload = await cli('policy', 'reload');
    expect(reload.code).toBe(1);
    expect(reload.stdout).toMatch(/no tool is named "github_merge_pr"[^\n]*\nthe running policy is unchanged/);
  }, serverTimeout(60_000));

  it('reloads on demand with countersign policy reload, and says when nothing changed', async () => {
    writeFileSync(config(), policy('deny'));
    const reload = await cli('policy', 'reload');
    expect(reload.code).toBe(0);
    // The watcher may have applied the save first; either way the running policy is now the saved one.
    expect(reload.stdout).toMatch(/^policy (reloaded: version [0-9a-f]{12} -> [0-9a-f]{12}, 2 rules|unchanged \(version [0-9a-f]{12}\))/);
    expect(await until(createIssue, (r) => r.isError)).toMatchObject({ isError: true, text: expect.stringContaining('issues are closed today') });
    expect((await cli('policy', 'reload')).stdout).toMatch(/^policy unchanged/);
  }, serverTimeout(60_000));
});
