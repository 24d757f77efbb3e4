import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlowServer, type SlowServer } from '../support/downstream-http.ts';
import { serverTimeout } from '../support/isolation-mode.ts';
import { connectClient } from '../support/mcp-client.ts';
import { cliFor, enrollRemote, type Cli, type RemoteApprover } from '../support/remote-approver.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

/**
 * Progress, cancellation and timeouts of downstream MCP calls pass through a real `countersign start` (in the suite's
 * isolation mode: executors in their own processes with COUNTERSIGN_TEST_ISOLATION=process), to a real MCP client.
 * One slow downstream server is configured twice: `slow` as reads with a 2 s timeout, `hang` as writes. A short lease
 * makes recovery (which settles a stopped write) run every second.
 */

let server: ServerProcess;
let slow: SlowServer;
let cli: Cli;
let owner: RemoteApprover;
let client: Client;
let approvedId = '';

const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
async function until<T>(what: string, look: () => T | Promise<T>): Promise<NonNullable<T>> {
  for (let i = 0; i < 600; i++) {
    const seen = await look();
    if (seen) return seen;
    await sleep(100);
  }
  throw new Error(`waited a minute for ${what}:\n${server.stderr()}`);
}
const increasing = (values: number[]) => values.every((v, i) => i === 0 || v > values[i - 1]!);

beforeAll(async () => {
  slow = await startSlowServer();
  const config = `
holdSeconds: 120
leaseSeconds: 2
connectors:
  mcp:
    servers:
      slow: { url: "${slow.url}", timeoutMs: 2000, tools: { count: { impact: read }, wait: { impact: read } } }
      hang: { url: "${slow.url}", tools: { count: { impact: write }, wait: { impact: write } } }
policy:
  default: approve
  rules:
    - { id: slow-reads, tools: [slow_count, slow_wait], decision: allow }
    - { id: hang-waits, tools: [hang_wait], decision: allow }
`;
  server = await startServerProcess({ config });
  cli = cliFor(server.home, { ...process.env, COUNTERSIGN_HOME: server.home });
  owner = await enrollRemote(() => server.url, `http://localhost:${server.port}`, cli, 'owner@example.com');
  const { token } = JSON.parse(await cli(['agent', 'add', 'slow-agent', '--owner', 'owner@example.com'])) as { token: string };
  client = await connectClient(server.url, token);
}, serverTimeout(240_000));
afterAll(async () => {
  await client?.close().catch(() => {});
  await server?.close();
  await slow?.stop();
}, serverTimeout(60_000));

describe('downstream MCP calls: progress, cancellation, timeouts', () => {
  it("passes the server's progress to the agent's token during an allowed call; each report restarts the 2 s timeout", async () => {
    const progress: Progress[] = [];
    // Four steps of 0.7 s: 2.8 s in all, past the 2 s timeoutMs, which the reports keep restarting.
    const result = (await client.callTool({ name: 'slow_count', arguments: { steps: 4, delayMs: 700 } }, undefined, { onprogress: (p) => progress.push(p), timeout: 60_000 })) as CallToolResult;
    expect(text(result), JSON.stringify(result)).toMatch(/^counted to 4/);
    // The last report may race the result (the client drops progress after it): the first ones cannot.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatchObject({ progress: 1, total: 4, message: 'step 1 of 4' });
    expect(progress.every((p) => /^step \d of 4$/.test(p.message ?? '') && p.total === 4)).toBe(true);
    expect(increasing(progress.map((p) => p.progress))).toBe(true);
  });

  it('passes progress of a call a human approved, after the hold’s own notices, always increasing', async () => {
    const progress: Progress[] = [];
    const call = client.callTool({ name: 'hang_count', arguments: { steps: 3, delayMs: 700 } }, undefined, { onprogress: (p) => progress.push(p), timeout: 120_000 });
    const { id, digest } = await until('the approval to reach the inbox', async () => (await owner.inbox()).find((r) => r.tool === 'hang_count'));
    approvedId = id;
    expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
    const result = (await call) as CallToolResult;
    expect(text(result)).toMatch(/^counted to 3/);
    expect(progress[0]?.message).toContain('Waiting for a human to approve');
    expect(progress.some((p) => p.message === 'step 1 of 3')).toBe(true);
    expect(increasing(progress.map((p) => p.progress))).toBe(true);
  });

  it('stops a write a human approved when the agent cancels while it runs (the hold follows it by request id)', async () => {
    const controller = new AbortController();
    let running!: () => void;
    const upstream = new Promise<void>((ok) => (running = ok));
    const onprogress = (p: Progress) => void (/^step \d+ of 20$/.test(p.message ?? '') && running());
    const call = client.callTool({ name: 'hang_count', arguments: { steps: 20, delayMs: 300 } }, undefined, { onprogress, signal: controller.signal, timeout: 120_000 }).catch((e: Error) => e);
    const { id, digest } = await until('the approval to reach the inbox', async () => (await owner.inbox()).find((r) => r.tool === 'hang_count' && r.id !== approvedId));
    expect((await owner.decide(id, digest, 'approve')).status).toBe(200);
    await upstream;
    controller.abort('stop counting');
    expect(await call).toBeInstanceOf(Error);
    const seen = await until('the downstream to see the cancellation', () => slow.cancelled.find((c) => c.tag.startsWith('count at')));
    expect(seen.reason).toContain('cancelled by the agent');
  });

  it('cancels a call that outlasts its server’s timeoutMs downstream, and tells the agent which server and how long', async () => {
    const result = (await client.callTool({ name: 'slow_wait', arguments: { tag: 'timeout' } }, undefined, { timeout: 60_000 })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toContain('MCP server slow did not answer wait within 2000 ms (its timeoutMs), so Countersign cancelled the call');
    const seen = await until('the downstream to see the cancellation', () => slow.cancelled.find((c) => c.tag === 'timeout'));
    expect(seen.reason).toMatch(/timed out/i);
  });

  it("stops a running write when the agent cancels: the downstream sees it, and the request ends unknown (audited), never failed", async () => {
    const controller = new AbortController();
    const call = client.callTool({ name: 'hang_wait', arguments: { tag: 'cancel' } }, undefined, { signal: controller.signal, timeout: 60_000 }).catch((e: Error) => e);
    await until('the downstream to start the call', () => slow.started.includes('cancel'));
    controller.abort('the agent changed its mind');
    expect(await call).toBeInstanceOf(Error);
    const seen = await until('the downstream to see the cancellation', () => slow.cancelled.find((c) => c.tag === 'cancel'));
    expect(seen.reason).toContain('cancelled by the agent');

    const listed = async () => {
      const r = (await client.callTool({ name: 'countersign_requests', arguments: {} })) as CallToolResult;
      return (r.structuredContent as { requests: { id: string; tool: string; state: string }[] }).requests.find((q) => q.tool === 'hang_wait');
    };
    const request = await until('the request to end its execution', async () => ((await listed())?.state === 'executing' ? null : listed()));
    expect(request!.state).toBe('unknown');
    // Reconcile cannot look into a downstream server: the request waits for its owner, Mark as done or Run again.
    type Entry = { kind: string; data: { code?: string; message?: string; answer?: string } };
    const audited = async () => {
      const lines = (await cli(['audit', 'receipt', request!.id]).catch(() => '')).trim().split('\n').filter(Boolean);
      const proofs = lines.map((l) => JSON.parse(l) as { type: string; leaf?: string }).filter((l) => l.type === 'proof');
      return proofs.map((l) => JSON.parse(l.leaf!) as Entry);
    };
    const entries = await until('reconcile to say it cannot tell', async () => ((await audited()).some((e) => e.kind === 'execution.reconciled') ? audited() : null));
    expect(entries.find((e) => e.kind === 'execution.reconciled')?.data.answer).toBe('cannot_tell');
    expect(entries.map((e) => e.kind)).not.toContain('execution.failed');
    expect((await owner.inbox()).map((r) => r.id)).toContain(request!.id);
    const unknown = entries.find((e) => e.kind === 'execution.unknown');
    expect(unknown?.data).toMatchObject({ code: 'upstream_unknown' });
    expect(unknown?.data.message).toMatch(/cancelled by the agent .* while MCP server hang was running wait; .*whether it acted is unknown/);
  });
});
