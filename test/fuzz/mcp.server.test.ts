import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/harness.ts';
import { INITIALIZE } from '../support/mcp-client.ts';
import { expectRpcAnswer, mcpArbitraries, mcpHeaders, type Answer, type ListedTool } from './mcp-arbitraries.ts';
import { LONG, count, runs, timeout } from './settings.ts';

/**
 * `/mcp` on a real server (HTTP, the whole stack, sandboxed GitHub and Stripe) under mutated JSON-RPC messages, tool
 * calls with arbitrary arguments and raw bodies that are not JSON at all. Every answer is below 500 and is JSON-RPC
 * (a JSON object with `jsonrpc: "2.0"` and a result or an error, or an event stream of them, or an empty 202 for a
 * notification); afterwards the server still initializes a session and lists its tools.
 */

const CONFIG = `
holdSeconds: 0
rateLimit: { perMinute: 10000000 }
policy:
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*, stripe_get_*, stripe_list_*]
      decision: allow
    - id: no-payouts
      tools: [stripe_create_payout]
      decision: deny
`;

let stack: Stack;
let token: string;
let session: string;
let tools: ListedTool[] = [];

async function post(body: string | Uint8Array, headers: Record<string, string> = {}, method = 'POST'): Promise<Answer> {
  try {
    return await send(body, headers, method);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const sent = `${method} ${JSON.stringify(headers)} ${typeof body === 'string' ? body.slice(0, 200) : 'bytes'} (${body.length} long)`;
    throw new Error(`no answer (${(error as Error).message}: ${cause?.code} ${cause?.message}) to ${sent}`);
  }
}

async function send(body: string | Uint8Array, headers: Record<string, string>, method: string): Promise<Answer> {
  const res = await fetch(`${stack.listenUrl}/mcp`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
    body: method === 'GET' || method === 'HEAD' ? undefined : typeof body === 'string' ? body : Buffer.from(body),
    signal: AbortSignal.timeout(30_000),
  });
  const answer = { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  if (process.env.FUZZ_DEBUG) console.log(`${method} ${JSON.stringify(headers)} ${typeof body === 'string' ? body.slice(0, 80) : 'bytes'} -> ${answer.status} ${answer.text.slice(0, 80)}`);
  return answer;
}

async function openSession(): Promise<string> {
  const res = await fetch(`${stack.listenUrl}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: INITIALIZE,
  });
  await res.text();
  const id = res.headers.get('mcp-session-id');
  if (!id) throw new Error(`initialize answered ${res.status} without a session`);
  await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), { 'mcp-session-id': id });
  return id;
}

beforeAll(async () => {
  if (!LONG) return; // vitest.config leaves this file out of the fast part; a direct run of it without FUZZ_RUNS skips
  stack = await startStack({ config: CONFIG });
  ({ token } = await stack.addAgent('fuzzer', 'owner@example.com'));
  session = await openSession();
  const listed = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
  // One JSON body (a tools/list without a progress token), or an event stream's data line.
  const answer = listed.text.startsWith('{') ? listed.text : listed.text.split('\n').find((l) => l.startsWith('data:'))!.slice(5);
  tools = (JSON.parse(answer) as { result: { tools: typeof tools } }).result.tools;
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const { mutated, rawBody } = mcpArbitraries(() => tools);

// A server per file costs more than the fast part's budget: these run in the long run (`npm run fuzz`) only.
describe.runIf(LONG)('MCP fuzz (real server)', () => {
  it('mutated JSON-RPC messages and tool calls: always a JSON-RPC answer below 500', async () => {
    await fc.assert(
      fc.asyncProperty(mutated, async (m) => {
        const body = JSON.stringify(m) ?? 'null';
        expectRpcAnswer(await post(body), body);
      }),
      runs(40, 0.1),
    );
  }, timeout(40, 200, 0.1));

  it('raw bodies and odd headers: always a JSON-RPC answer below 500', async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, mcpHeaders, fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH'), async (body, extra, method) => {
        const sent = typeof body === 'string' ? body : `bytes ${Buffer.from(body).toString('hex')}`;
        expectRpcAnswer(await post(body, extra, method), `${method} ${JSON.stringify(extra)} ${sent}`);
      }),
      runs(30, 0.1),
    );
  }, timeout(30, 200, 0.1));

  it('the server is still up: it initializes a new session and lists its tools', async () => {
    const health = await fetch(`${stack.listenUrl}/healthz`);
    expect(health.status).toBe(200);
    session = await openSession();
    const listed = await post(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }));
    expect(listed.status).toBe(200);
    expect(listed.text).toContain('github_get_repo');
    expect(count(1)).toBeGreaterThan(0);
  });
});
